/**
 * The directory store (DIRECTORY_BUCKET): a JetStream stream holding the live directory, each
 * entry naming the approved `directory_change` that put it there. Only ops write it
 * (`pnpm directory activate`, after checking the approval); services only read its last entry,
 * and load it only when the approval it names holds for exactly its text (see ./change.ts), so
 * writing the stream is not enough to change who may approve.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import { type NatsConnection, headers as natsHeaders } from '@nats-io/nats-core';
import {
  type ApprovalLookup,
  type ApprovalOfChange,
  ChangeNotApprovedError,
  requireApprovedChange,
} from '../approved-change.js';
import type { Logger } from '../logger.js';
import { sleeper } from '../timing.js';
import { DIRECTORY_CHANGE_ACTION_TYPE, directoryDigest } from './change.js';
import { Directory } from './directory.js';
import type { OpenedDirectory } from './holder.js';

/** The store every service reads unless DIRECTORY_BUCKET names another. */
export const DEFAULT_DIRECTORY_BUCKET = 'countersign-directory';
/** The header of a live entry naming its approval. */
export const APPROVAL_HEADER = 'Countersign-Approval';

/** The stream of a store (NATS permissions name it). */
export const directoryStream = (bucket: string) => `DIRECTORY_${bucket}`;
/** The one subject of a store: its live entry (the stream keeps the last few as history). */
export const liveSubject = (bucket: string) => `countersign.directory.${bucket}.live`;

export interface LiveDirectory {
  text: string;
  /** The approval the entry names (absent: written without one, never loaded where approval is required). */
  approval: string | undefined;
  /** Stream sequence: a new write is a new entry, even of the same text. */
  seq: number;
}

/** Creates the store's stream if it does not exist (ops, at the first activation). */
export async function ensureDirectoryStore(nc: NatsConnection, bucket: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = directoryStream(bucket);
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({
      name,
      description: 'Countersign directory: the live directory, each entry naming its approval',
      subjects: [liveSubject(bucket)],
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      // Every entry is kept: the one in force may be behind refused writes, and rolling old
      // entries out would let a burst of writes push it out. Past the limit, writes are refused.
      max_msgs: 10_000,
      max_msg_size: 1024 * 1024,
      // An entry is replaced by a newer one, never removed: removing it would bring back the
      // one before, re-granting what a later change revoked.
      deny_delete: true,
      deny_purge: true,
    });
  }
}

/** Writes a live entry (ops). Services load it only if `approval` holds for this text. */
export async function putLiveDirectory(
  nc: NatsConnection,
  bucket: string,
  text: string,
  approval: string | undefined,
): Promise<number> {
  const headers = natsHeaders();
  if (approval) headers.set(APPROVAL_HEADER, approval);
  const ack = await jetstream(nc).publish(liveSubject(bucket), new TextEncoder().encode(text), {
    headers,
    expect: { streamName: directoryStream(bucket) },
  });
  return ack.seq;
}

/** The store's live entry; null when the store does not exist yet or holds none. */
export async function readLiveDirectory(nc: NatsConnection, bucket: string): Promise<LiveDirectory | null> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  let stored: Awaited<ReturnType<typeof jsm.streams.getMessage>>;
  try {
    stored = await jsm.streams.getMessage(directoryStream(bucket), { last_by_subj: liveSubject(bucket) });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw err;
  }
  if (!stored) return null;
  return {
    text: new TextDecoder().decode(stored.data),
    approval: stored.header?.get(APPROVAL_HEADER) || undefined,
    seq: stored.seq,
  };
}

/** At most this many entries are read, newest first, to find the directory in force. */
export const MAX_ENTRIES_READ = 100;

/** An entry that may go live, with the approval that lets it (none where approval is not required). */
export interface ApprovedEntry {
  entry: LiveDirectory;
  directory: Directory;
  approval: ApprovalOfChange | undefined;
}

export interface ResolveOptions {
  approvals: ApprovalLookup;
  /** Default true. */
  requireApproval?: boolean;
  /** Read only entries after this sequence (those already judged are not judged again). */
  after?: number;
  limit?: number;
}

export interface Resolution {
  /** The newest entry's sequence (0: none): every entry up to it has been judged. */
  newest: number;
  /** The entry that should be in force: of the approved ones read, the one whose approval was filed last. */
  chosen: ApprovedEntry | undefined;
  /** Entries that never go live, with why. */
  refused: { entry: LiveDirectory; reason: string }[];
  /** Set when an approval could not be read (the approval service not answering): judge again later. */
  retry?: { entry: LiveDirectory; reason: string };
}

/**
 * Judges the store's entries, newest first: which one should be in force. Not simply the last:
 * a write without a fitting approval never goes live, so the last approved entry stays in
 * force behind it (also after a restart); and of two approved entries the one whose approval
 * was filed later wins, so writing an old approved entry again cannot roll the directory back
 * to before a later change (re-granting what it revoked).
 */
export async function resolveDirectoryStore(
  nc: NatsConnection,
  bucket: string,
  options: ResolveOptions,
): Promise<Resolution> {
  const requireApproval = options.requireApproval ?? true;
  const after = options.after ?? 0;
  const limit = options.limit ?? MAX_ENTRIES_READ;
  const last = await readLiveDirectory(nc, bucket);
  const resolution: Resolution = { newest: last?.seq ?? 0, chosen: undefined, refused: [] };
  if (!last || last.seq <= after) return resolution;
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const candidates: ApprovedEntry[] = [];
  for (let seq = last.seq, read = 0; seq > after && read < limit; seq--, read++) {
    const entry = seq === last.seq ? last : await readEntry(jsm, bucket, seq);
    if (!entry) continue;
    let directory: Directory;
    try {
      directory = Directory.parse(entry.text);
    } catch (err) {
      resolution.refused.push({ entry, reason: (err as Error).message });
      continue;
    }
    if (!requireApproval) {
      candidates.push({ entry, directory, approval: undefined });
      break;
    }
    try {
      const approval = await requireApprovedChange(options.approvals, {
        approvalId: entry.approval,
        actionType: DIRECTORY_CHANGE_ACTION_TYPE,
        revision: directoryDigest(entry.text),
        what: 'directory',
        howToFile: 'file it with pnpm directory publish, then activate it once approved',
      });
      candidates.push({ entry, directory, approval });
    } catch (err) {
      if (err instanceof ChangeNotApprovedError && err.retryable) {
        resolution.retry = { entry, reason: err.message };
        return resolution;
      }
      resolution.refused.push({ entry, reason: (err as Error).message });
    }
  }
  // Newest entry first among equals: the same approval written twice is one change.
  resolution.chosen = candidates.reduce<ApprovedEntry | undefined>(
    (best, c) => (best && filedAt(best) >= filedAt(c) ? best : c),
    undefined,
  );
  return resolution;
}

const filedAt = (e: ApprovedEntry) => (e.approval?.created_at ? Date.parse(e.approval.created_at) : 0);

async function readEntry(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  bucket: string,
  seq: number,
): Promise<LiveDirectory | null> {
  try {
    const stored = await jsm.streams.getMessage(directoryStream(bucket), { seq });
    if (!stored || stored.subject !== liveSubject(bucket)) return null;
    return {
      text: new TextDecoder().decode(stored.data),
      approval: stored.header?.get(APPROVAL_HEADER) || undefined,
      seq: stored.seq,
    };
  } catch (err) {
    // A sequence the stream no longer holds.
    if (err instanceof JetStreamApiError && err.status === 404) return null;
    throw err;
  }
}

export interface DirectoryStoreOptions {
  nc: NatsConnection;
  bucket: string;
  /** The holder the scaffold opened from the seed file; a loaded entry replaces its directory. */
  holder: OpenedDirectory;
  /** How approvals are read (the approval service reads its own database; others ask it). */
  approvals: ApprovalLookup;
  /** Load only entries whose approval holds (DIRECTORY_REQUIRE_APPROVAL). Default true. */
  requireApproval?: boolean;
  logger: Logger;
  /** How often the store is read. Default 1000 ms. */
  intervalMs?: number;
}

export interface DirectoryStoreFollower {
  stop(): Promise<void>;
}

/**
 * Puts the store's directory in force now (see resolveDirectoryStore) and then follows the
 * store by polling it. An entry that does not parse, names no approval, names one that does not
 * hold for its text or one filed before the change in force is refused once, with an error
 * log, and the directory in force stays; an approval that cannot be read yet (the approval
 * service not answering) is tried again at the next poll. Never throws: a store that cannot be
 * read is logged and read again.
 */
export async function followDirectoryStore(options: DirectoryStoreOptions): Promise<DirectoryStoreFollower> {
  const log = options.logger.child({ directory_bucket: options.bucket });
  const requireApproval = options.requireApproval ?? true;
  if (!requireApproval) {
    log.warn(
      {},
      'DIRECTORY_REQUIRE_APPROVAL=false: a directory written to the store goes live without an approved directory change',
    );
  }
  let judged = 0;
  let inForce: ApprovedEntry | undefined;
  // One line per entry waiting for its approval to be readable, not one per poll.
  let waitingOn = 0;
  let failing = false;
  let stopped = false;
  const pause = sleeper();
  const fieldsOf = (entry: LiveDirectory) => ({
    seq: entry.seq,
    change_revision: directoryDigest(entry.text),
    approval: entry.approval,
  });

  const poll = async () => {
    let resolution: Resolution;
    try {
      resolution = await resolveDirectoryStore(options.nc, options.bucket, {
        approvals: options.approvals,
        requireApproval,
        after: judged,
      });
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err }, 'directory store unreadable: keeping the directory in force');
      failing = true;
      return;
    }
    for (const { entry, reason } of resolution.refused) {
      log.error(
        { ...fieldsOf(entry), reason },
        'directory change not approved: keeping the directory in force',
      );
    }
    if (resolution.retry) {
      const { entry, reason } = resolution.retry;
      if (waitingOn !== entry.seq) {
        log.error(
          { ...fieldsOf(entry), reason, retrying: true },
          'directory change not approved: keeping the directory in force',
        );
      }
      waitingOn = entry.seq;
      return;
    }
    judged = Math.max(judged, resolution.newest);
    const chosen = resolution.chosen;
    if (!chosen) return;
    if (inForce && filedAt(chosen) <= filedAt(inForce) && requireApproval) {
      if (chosen.entry.approval !== inForce.entry.approval) {
        log.error(
          {
            ...fieldsOf(chosen.entry),
            reason: `approval ${chosen.entry.approval} was filed before ${inForce.entry.approval}, the change in force: an old change cannot roll the directory back`,
          },
          'directory change not approved: keeping the directory in force',
        );
      }
      return;
    }
    inForce = chosen;
    options.holder.replace(
      chosen.directory,
      requireApproval ? 'directory change approved: loading it' : 'directory loaded from the store',
      { ...fieldsOf(chosen.entry), source: `store ${options.bucket}` },
    );
  };

  await poll();
  const running = (async () => {
    while (!stopped) {
      await pause.sleep(options.intervalMs ?? 1000);
      if (!stopped) await poll();
    }
  })();
  return {
    async stop() {
      stopped = true;
      pause.wake();
      await running;
    },
  };
}
