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
import { type ApprovalLookup, ChangeNotApprovedError, requireApprovedChange } from '../approved-change.js';
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
      discard: DiscardPolicy.Old,
      // History for the audit; only the last entry is ever loaded.
      max_msgs_per_subject: 20,
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
 * Loads the store's live entry now (when there is one and it may be loaded) and then follows
 * it by polling its last entry. An entry that does not parse, names no approval or names one
 * that does not hold for its text is refused once, with an error log, and the directory in force
 * stays; an approval that cannot be read yet (the approval service not answering) is tried again
 * at the next poll. Never throws: a store that cannot be read is logged and read again.
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
  let handled = 0;
  // One error line per entry waiting for its approval to be readable, not one per poll.
  let waitingOn = 0;
  let failing = false;
  let stopped = false;
  const pause = sleeper();

  const poll = async () => {
    let entry: LiveDirectory | null;
    try {
      entry = await readLiveDirectory(options.nc, options.bucket);
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err }, 'directory store unreadable: keeping the directory in force');
      failing = true;
      return;
    }
    if (!entry || entry.seq === handled) return;
    const revision = directoryDigest(entry.text);
    const fields = { seq: entry.seq, change_revision: revision, approval: entry.approval };
    let directory: Directory;
    try {
      directory = Directory.parse(entry.text);
    } catch (err) {
      handled = entry.seq;
      log.error({ ...fields, err }, 'directory in the store refused: keeping the directory in force');
      return;
    }
    if (requireApproval) {
      try {
        await requireApprovedChange(options.approvals, {
          approvalId: entry.approval,
          actionType: DIRECTORY_CHANGE_ACTION_TYPE,
          revision,
          what: 'directory',
          howToFile: 'file it with pnpm directory publish, then activate it once approved',
        });
      } catch (err) {
        const retry = err instanceof ChangeNotApprovedError && err.retryable;
        if (!retry) handled = entry.seq;
        if (retry && waitingOn === entry.seq) return;
        if (retry) waitingOn = entry.seq;
        log.error(
          { ...fields, reason: (err as Error).message, retrying: retry },
          'directory change not approved: keeping the directory in force',
        );
        return;
      }
    }
    handled = entry.seq;
    options.holder.replace(
      directory,
      requireApproval ? 'directory change approved: loading it' : 'directory loaded from the store',
      { ...fields, source: `store ${options.bucket}` },
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
