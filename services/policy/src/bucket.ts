import { backoffDelay, type Logger, sleeper } from '@countersign/runtime';
import type { NatsConnection, QueuedIterator } from '@nats-io/nats-core';
import { type ObjectInfo, type ObjectStore, type ObjectWatchInfo, Objm } from '@nats-io/obj';
import type { Watcher } from './watch-dir.js';

/** The object every replica loads from the policy bucket. */
export const BUNDLE_OBJECT = 'bundle.tar.gz';
/**
 * A candidate every replica evaluates beside the live bundle without enforcing it (shadow
 * mode); deleting it ends the shadow.
 */
export const SHADOW_OBJECT = 'shadow.tar.gz';

/**
 * Opens the policy bucket, creating it on first use (with JetStream defaults: one replica,
 * file storage). An existing bucket is used as it is, whatever its settings.
 */
export function openPolicyBucket(nc: NatsConnection, bucket: string): Promise<ObjectStore> {
  return new Objm(nc).create(bucket, { description: 'Countersign policy bundles (bundle.tar.gz)' });
}

/**
 * Puts a bundle as the current one (or as `name`, e.g. {@link SHADOW_OBJECT}); every replica
 * watching the bucket loads it.
 */
export function putBundle(
  store: ObjectStore,
  bytes: Uint8Array,
  revision: string,
  name: string = BUNDLE_OBJECT,
  metadata: Record<string, string> = {},
): Promise<ObjectInfo> {
  return store.putBlob(
    { name, description: `policy bundle ${revision}`, metadata: { ...metadata, revision } },
    bytes,
  );
}

/** The current bundle (or the object `name`) and its info, or null when the bucket holds none. */
export async function getBundle(
  store: ObjectStore,
  name: string = BUNDLE_OBJECT,
): Promise<{ bytes: Uint8Array; info: ObjectInfo } | null> {
  const info = await store.info(name);
  if (!info || info.deleted) return null;
  const bytes = await store.getBlob(name);
  return bytes ? { bytes, info } : null;
}

export interface BucketFollowOptions {
  nc: NatsConnection;
  bucket: string;
  /** The object to follow. Default {@link BUNDLE_OBJECT}. */
  name?: string;
  /** `nuid` of a put already handled (loaded or refused) at start-up: not handled again. */
  seen?: string;
  /** Loads one put; called one at a time, in bucket order. Must not throw. */
  onBundle(bytes: Uint8Array, info: ObjectInfo): Promise<void>;
  /** Called when the object is deleted (the shadow dropped); deletions are ignored without it. */
  onDelete?(info: ObjectInfo): Promise<void>;
  logger: Logger;
  /** First retry delay after a failure to watch; doubles (jittered) up to 30 s. Default 1000 ms. */
  retryMs?: number;
}

/**
 * Follows the bucket: every put of {@link BUNDLE_OBJECT} is handed to `onBundle` once (by its
 * `nuid`). The watch starts with the latest put, so a bundle published while this replica was
 * away or disconnected is still picked up. Failures (no JetStream yet, a lost consumer) are
 * logged and the watch is re-established with backoff; they never stop the service.
 */
export function followBucket(options: BucketFollowOptions): Watcher {
  let stopped = false;
  let seen = options.seen;
  let deleted = false;
  let iterator: QueuedIterator<ObjectWatchInfo> | undefined;
  const pause = sleeper();
  const baseDelay = options.retryMs ?? 1000;
  const log = options.logger.child({ bucket: options.bucket });
  const name = options.name ?? BUNDLE_OBJECT;

  const followOnce = async () => {
    const store = await openPolicyBucket(options.nc, options.bucket);
    // includeHistory delivers the latest put first: nothing published in between is missed.
    iterator = await store.watch({ includeHistory: true, ignoreDeletes: !options.onDelete });
    if (stopped) iterator.stop();
    log.info({ object: name }, 'watching the policy bucket');
    for await (const info of iterator) {
      if (info.name !== name) continue;
      // A deletion keeps the deleted put's nuid: it is handled once, by state, not by nuid.
      if (info.deleted) {
        if (!deleted) await options.onDelete?.(info);
        deleted = true;
        continue;
      }
      deleted = false;
      if (info.nuid === seen) continue;
      seen = info.nuid;
      // The latest bytes, not necessarily this put's: if another put followed, the watch
      // delivers it next and it is skipped or loaded again, ending on the newest either way.
      const bytes = await store.getBlob(name);
      if (bytes) await options.onBundle(bytes, info);
    }
  };

  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      let delay = baseDelay;
      try {
        await followOnce();
        failures = 0;
      } catch (err) {
        if (stopped) break;
        delay = backoffDelay(++failures, baseDelay, 30_000);
        log.warn({ err, retry_ms: delay }, 'cannot watch the policy bucket: retrying');
      }
      if (stopped) break;
      await pause.sleep(delay);
    }
  };
  const running = loop();

  return {
    async stop() {
      stopped = true;
      iterator?.stop();
      pause.wake();
      await running;
    },
  };
}
