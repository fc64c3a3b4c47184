/**
 * A directory change as an approval (`pnpm directory publish` / `activate`): the candidate file
 * is filed, under the identity the requester's NATS credential proves, as an approval of action
 * type `directory_change` whose context holds the candidate's text, its revision, the revision it
 * was written against and a summary of what it changes. The live policy routes it (two approvers
 * from ops and security, never the requester, never someone it grants a role); once approved,
 * ops activate it: it is checked again against the directory in force and written to the
 * directory store naming the approval, which every service with DIRECTORY_BUCKET checks before
 * loading it.
 */
import { createHash } from 'node:crypto';
import { type ApprovalOfChange, ChangeNotApprovedError, requireApprovedChange } from '../approved-change.js';
import { Directory, type Principal } from './directory.js';

export const DIRECTORY_CHANGE_ACTION_TYPE = 'directory_change';

/**
 * The largest candidate a change carries (its text travels in the approval's context, in every
 * event and policy call about it): a directory of a few thousand entries.
 */
export const MAX_DIRECTORY_BYTES = 256 * 1024;
/** Entries listed per section of the summary; the counts are always whole. */
const LISTED = 50;
/**
 * Role grants are never cut: the policy refuses the vote of everyone a change grants a role,
 * so every grantee must be named. A change granting more is refused: split it.
 */
export const MAX_ROLE_GRANTS = 200;

/** The full revision of a directory text: what an approval names (sha256, never shortened). */
export function directoryDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export interface RoleChange {
  identity: string;
  role: string;
}

/** What a candidate changes against the directory in force, for the approvers. */
export interface DirectoryDiff {
  people_added: string[];
  people_removed: string[];
  services_added: string[];
  services_removed: string[];
  /** Every role a candidate gives someone who does not hold it now (a new entry's roles too). */
  roles_granted: RoleChange[];
  roles_revoked: RoleChange[];
  channels_changed: { identity: string; added: string[]; removed: string[] }[];
  /** Other fields of an entry that changed: how it is identified (nats_user, oidc, email, slack_user), may_request, acts_for, relays_decisions, name. */
  entries_changed: { identity: string; fields: string[] }[];
  /** Items in all lists, before any was cut to its first 50. */
  changes: number;
  truncated: boolean;
}

const kindKey = (p: Principal) => `${p.kind}:${p.id}`;
const OTHER_FIELDS = [
  'name',
  'email',
  'nats_user',
  'oidc',
  'slack_user',
  'may_request',
  'acts_for',
  'relays_decisions',
] as const;

/** The summary of what `candidate` changes against `live` (undefined: an empty directory). */
export function directoryDiff(live: Directory | undefined, candidate: Directory): DirectoryDiff {
  const before = new Map((live?.principals() ?? []).map((p) => [kindKey(p), p]));
  const after = new Map(candidate.principals().map((p) => [kindKey(p), p]));
  const ids = (map: Map<string, Principal>, other: Map<string, Principal>, kind: Principal['kind']) =>
    [...map.values()]
      .filter((p) => p.kind === kind && !other.has(kindKey(p)))
      .map((p) => p.id)
      .sort();
  const granted: RoleChange[] = [];
  const revoked: RoleChange[] = [];
  const channels: DirectoryDiff['channels_changed'] = [];
  const changed: DirectoryDiff['entries_changed'] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(key);
    const b = after.get(key);
    const id = (a ?? b)?.id ?? key;
    const rolesA = new Set(a?.roles ?? []);
    const rolesB = new Set(b?.roles ?? []);
    for (const role of [...rolesB].sort()) if (!rolesA.has(role)) granted.push({ identity: id, role });
    for (const role of [...rolesA].sort()) if (!rolesB.has(role)) revoked.push({ identity: id, role });
    if (!a || !b) continue;
    const chA = a.kind === 'person' ? a.channels : [];
    const chB = b.kind === 'person' ? b.channels : [];
    const added = chB.filter((c) => !chA.includes(c)).sort();
    const removed = chA.filter((c) => !chB.includes(c)).sort();
    if (added.length + removed.length > 0) channels.push({ identity: id, added, removed });
    const fields = OTHER_FIELDS.filter(
      (f) =>
        JSON.stringify((a as Record<string, unknown>)[f] ?? null) !==
        JSON.stringify((b as Record<string, unknown>)[f] ?? null),
    );
    if (fields.length > 0) changed.push({ identity: id, fields: [...fields] });
  }
  const lists = {
    people_added: ids(after, before, 'person'),
    people_removed: ids(before, after, 'person'),
    services_added: ids(after, before, 'service'),
    services_removed: ids(before, after, 'service'),
    roles_revoked: revoked,
    channels_changed: channels,
    entries_changed: changed,
  };
  const counts = Object.values(lists).map((l) => l.length);
  const changes = counts.reduce((a, b) => a + b, granted.length);
  return {
    ...Object.fromEntries(Object.entries(lists).map(([k, l]) => [k, l.slice(0, LISTED)])),
    roles_granted: granted,
    changes,
    truncated: counts.some((n) => n > LISTED),
  } as DirectoryDiff;
}

/** A candidate checked and summarised for filing (`pnpm directory publish`). */
export interface DirectoryChange {
  candidate: Directory;
  /** The approval's context: revision, live_revision, diff, candidate (the text). */
  context: Record<string, unknown>;
  revision: string;
  diff: DirectoryDiff;
}

/**
 * Checks a candidate (it parses, it is not too big, it names every grantee) and builds the
 * context of its approval. `live` is the text in force (the store's, else the seed file).
 * Throws DirectoryError or DirectoryChangeError.
 */
export function prepareDirectoryChange(text: string, live: string | undefined): DirectoryChange {
  const size = Buffer.byteLength(text);
  if (size > MAX_DIRECTORY_BYTES) {
    throw new DirectoryChangeError(
      `the directory is ${size} bytes; a change carries at most ${MAX_DIRECTORY_BYTES}`,
    );
  }
  const candidate = Directory.parse(text);
  const diff = directoryDiff(live === undefined ? undefined : Directory.parse(live), candidate);
  if (diff.roles_granted.length > MAX_ROLE_GRANTS) {
    throw new DirectoryChangeError(
      `the change grants ${diff.roles_granted.length} roles; at most ${MAX_ROLE_GRANTS} per change: split it`,
    );
  }
  if (diff.changes === 0)
    throw new DirectoryChangeError('the candidate changes nothing in the directory in force');
  const revision = directoryDigest(text);
  return {
    candidate,
    revision,
    diff,
    context: {
      revision,
      live_revision: live === undefined ? null : directoryDigest(live),
      diff,
      candidate: text,
    },
  };
}

/** A directory change that cannot be filed or activated; `code` is the error's kind. */
export class DirectoryChangeError extends Error {
  readonly code = 'invalid_directory_change';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DirectoryChangeError';
  }
}

/**
 * What an approved change puts live, checked again at activation: approved, a directory_change,
 * for the revision of the text it carries, written against the directory in force now (`live`,
 * undefined when the store is empty and the seed is `live` too), and changing exactly what its
 * approvers were shown (the diff is recomputed: a requester who filed a summary hiding a grant
 * is refused here). Throws ChangeNotApprovedError or DirectoryChangeError.
 */
export async function checkActivation(
  approvalId: string,
  approval: ApprovalOfChange,
  live: string | undefined,
): Promise<{ text: string; revision: string; directory: Directory }> {
  const text = approval.context.candidate;
  if (approval.action_type !== DIRECTORY_CHANGE_ACTION_TYPE || typeof text !== 'string') {
    throw new ChangeNotApprovedError(`approval ${approvalId} is not a directory change`);
  }
  const revision = directoryDigest(text);
  if (approval.status === 'pending') {
    const votes = (approval.votes ?? []).filter((v) => v.approved).length;
    throw new ChangeNotApprovedError(
      `approval ${approvalId} is pending (${votes} of ${approval.required_approvals ?? '?'} approvals): ${revision} stays inactive`,
    );
  }
  await requireApprovedChange(async () => approval, {
    approvalId,
    actionType: DIRECTORY_CHANGE_ACTION_TYPE,
    revision,
    what: 'directory',
    howToFile: 'pnpm directory publish',
  });
  const liveRevision = live === undefined ? null : directoryDigest(live);
  if (approval.context.live_revision !== liveRevision) {
    throw new DirectoryChangeError(
      `approval ${approvalId} was filed against directory ${String(approval.context.live_revision)}, but ${String(liveRevision)} is in force: publish the change again`,
    );
  }
  const directory = Directory.parse(text);
  const diff = directoryDiff(live === undefined ? undefined : Directory.parse(live), directory);
  if (canonicalJson(diff) !== canonicalJson(approval.context.diff)) {
    throw new DirectoryChangeError(
      `approval ${approvalId} shows its approvers another diff than the one its directory makes: refused`,
    );
  }
  return { text, revision, directory };
}

/** JSON with object keys sorted (the database does not keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
