/**
 * `pnpm directory <command>`: directory changes through approval (docs/directory.md).
 *
 *   pnpm directory publish --file <yaml> [--bucket <name>]
 *       checks the file (Directory.parse: a broken file goes nowhere), prints what it changes
 *       against the directory in force and files a directory_change approval as YOU: the
 *       identity your own NATS user proves (NATS_USER/NATS_PASSWORD or NATS_CREDS; never ops)
 *   pnpm directory activate <approval id> [--bucket <name>]
 *       (ops) once approved: checks the approval and the diff again against the directory in
 *       force and writes the candidate to the directory store, naming the approval
 *   pnpm directory show [--bucket <name>]
 *       the directory in force: the store's live entry and its approval, or the seed
 *
 * Environment: NATS_URL and credentials; DIRECTORY_FILE, the seed every service starts from
 * (the directory in force while the store holds no approved one); DIRECTORY_BUCKET (default
 * countersign-directory). Exit 0 on success, 1 with the reason on stderr, 2 on a usage error.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { actorSubject, Endpoints } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';
import { z } from 'zod';
import { approvalsOverNats, askApprovalService, ChangeNotApprovedError } from '../approved-change.js';
import { CommonEnv, loadConfig, runtimeSettings } from '../config.js';
import { connectCli, NatsCredentialsError } from '../nats.js';
import {
  checkActivation,
  DIRECTORY_CHANGE_ACTION_TYPE,
  DirectoryChangeError,
  type DirectoryDiff,
  prepareDirectoryChange,
} from './change.js';
import { Directory, DirectoryError } from './directory.js';
import {
  DEFAULT_DIRECTORY_BUCKET,
  ensureDirectoryStore,
  putLiveDirectory,
  resolveDirectoryStore,
} from './store.js';

const USAGE = `usage:
  pnpm directory publish --file <yaml> [--bucket <name>]
  pnpm directory activate <approval id> [--bucket <name>]
  pnpm directory show [--bucket <name>]`;

class UsageError extends Error {}

const CliEnv = CommonEnv.extend({ NATS_INBOX_PREFIX: z.string().min(1).optional() }).transform((v) => ({
  runtime: runtimeSettings(v),
  bucket: v.DIRECTORY_BUCKET || DEFAULT_DIRECTORY_BUCKET,
  inboxPrefix: v.NATS_INBOX_PREFIX,
}));

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      bucket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  if (!['publish', 'activate', 'show'].includes(command))
    throw new UsageError(`unknown command "${command}"`);
  // Checked before anything connects: a file that does not load never reaches the approval.
  let text: string | undefined;
  if (command === 'publish') {
    if (!values.file) throw new UsageError('publish needs --file <yaml>: the candidate directory');
    text = await readFile(resolve(process.env.INIT_CWD ?? process.cwd(), values.file), 'utf8');
    Directory.parse(text);
  }
  const { runtime, inboxPrefix, ...config } = loadConfig(CliEnv);
  const bucket = values.bucket ?? config.bucket;
  const seedText = await readFile(runtime.directoryFile, 'utf8');
  const seed = Directory.parse(seedText);
  const user = runtime.nats.user;
  // A person's user reads replies only under its identity's inbox prefix.
  const identityGuess = user && user !== 'ops' ? (seed.identityOfNatsUser(user)?.id ?? user) : undefined;
  const nc = await connectCli(runtime.nats, 'countersign-directory-cli', {
    identity: identityGuess,
    inboxPrefix,
  });
  try {
    // The directory in force, judged as every service judges it: the store's approved entry
    // filed last (writes without a fitting approval behind it never count), else the seed.
    const store = await resolveDirectoryStore(nc, bucket, { approvals: approvalsOverNats(nc, 10_000) });
    if (store.retry) throw new Error(store.retry.reason);
    const inForce = store.chosen?.entry;
    const liveText = inForce?.text ?? seedText;
    if (command === 'show') {
      console.log(
        inForce
          ? `# store ${bucket}, entry ${inForce.seq}, approval ${inForce.approval ?? '(none)'}`
          : `# the store ${bucket} holds no approved directory: the seed ${runtime.directoryFile} is in force`,
      );
      for (const { entry, reason } of store.refused) console.log(`# refused entry ${entry.seq}: ${reason}`);
      process.stdout.write(liveText);
      return;
    }
    if (command === 'publish') await publish(nc, text as string, liveText, user);
    else await activate(nc, bucket, positionals[1], liveText);
  } finally {
    await nc.drain();
  }
}

async function publish(nc: NatsConnection, text: string, liveText: string, user: string | undefined) {
  const live = Directory.parse(liveText);
  // The requester is who the credential proves: the subject approval.submit.<identity> is
  // one only that identity's NATS user may publish on.
  const identity = user ? live.identityOfNatsUser(user)?.id : undefined;
  if (!identity || live.get(identity)?.kind !== 'person') {
    throw new UsageError(
      `a directory change is filed by a person with their own NATS user (NATS_USER${user ? `=${user}` : ''} is no person in the directory in force)`,
    );
  }
  const change = prepareDirectoryChange(text, liveText);
  console.log(`directory ${change.revision} against ${String(change.context.live_revision)}:`);
  console.log(formatDiff(change.diff));
  const id = `directory-${change.revision.slice('sha256:'.length, 'sha256:'.length + 16)}-${randomBytes(3).toString('hex')}`;
  const approval = await askApprovalService(
    nc,
    actorSubject('submit', identity),
    {
      action_id: id,
      action_type: DIRECTORY_CHANGE_ACTION_TYPE,
      description: `Put directory ${change.revision.slice(0, 19)} live: ${change.diff.changes} changes`,
      requested_by: identity,
      context: change.context,
    },
    Endpoints.submit.response,
    15_000,
  );
  console.log(
    `approval ${approval.action_id} filed by ${identity}: ${approval.status}, needs ${approval.required_approvals} approvals from ${approval.policy.approver_roles.join(', ')}\n` +
      `once approved (ops): pnpm directory activate ${approval.action_id}`,
  );
}

async function activate(nc: NatsConnection, bucket: string, id: string | undefined, liveText: string) {
  if (!id) throw new UsageError('activate needs the approval id that publish printed');
  const approval = await approvalsOverNats(nc, 10_000)(id);
  const { revision } = await checkActivation(id, approval, liveText);
  await ensureDirectoryStore(nc, bucket);
  const seq = await putLiveDirectory(nc, bucket, approval.context.candidate as string, id);
  console.log(`activated directory ${revision} (approval ${id}) in ${bucket}, entry ${seq}`);
}

/** The diff as lines a person reads before filing. */
export function formatDiff(diff: DirectoryDiff): string {
  const lines: string[] = [];
  const list = (label: string, items: string[]) => {
    if (items.length > 0) lines.push(`  ${label}: ${items.join(', ')}`);
  };
  list('people added', diff.people_added);
  list('people removed', diff.people_removed);
  list('services added', diff.services_added);
  list('services removed', diff.services_removed);
  list(
    'roles granted',
    diff.roles_granted.map((g) => `${g.identity} +${g.role}`),
  );
  list(
    'roles revoked',
    diff.roles_revoked.map((g) => `${g.identity} -${g.role}`),
  );
  list(
    'channels changed',
    diff.channels_changed.map(
      (c) =>
        `${c.identity} (${[...c.added.map((a) => `+${a}`), ...c.removed.map((r) => `-${r}`)].join(' ')})`,
    ),
  );
  list(
    'entries changed',
    diff.entries_changed.map((e) => `${e.identity} (${e.fields.join(', ')})`),
  );
  if (diff.truncated) lines.push(`  … ${diff.changes} changes in all (lists cut to their first 50)`);
  return lines.join('\n');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof NatsCredentialsError) {
    console.error(`directory: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (err instanceof DirectoryError) {
    console.error(`directory: the file does not load:\n${err.problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  const code =
    err instanceof ChangeNotApprovedError || err instanceof DirectoryChangeError
      ? `${err.code}: `
      : typeof (err as { code?: unknown }).code === 'string'
        ? `${(err as { code: string }).code}: `
        : '';
  console.error(`directory: ${code}${(err as Error).message}`);
  process.exit(1);
});
