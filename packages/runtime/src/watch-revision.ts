import type { Logger } from './logger.js';

export interface RevisionWatchOptions {
  /** What is watched, for log lines ("policy directory", "directory file"). */
  what: string;
  /** Reads the current revision (a digest of the sources); throws while they are unreadable. */
  revisionOf(): Promise<string>;
  /** Revision already loaded (or already tried): no reload for it. */
  initialRevision: string;
  /** Poll interval; a change is acted on once two polls in a row agree. Default 500 ms. */
  intervalMs?: number;
  /** Reload and swap; called one change at a time. */
  onChange(revision: string): Promise<void>;
  logger: Logger;
}

export interface Watcher {
  stop(): Promise<void>;
}

/**
 * Hot reload by polling a digest and calling `onChange` when it changes. Polling, not fs.watch:
 * Node 20's fs.watch on Linux misses directories created after it starts and reports editors'
 * write-rename saves (and Kubernetes' ConfigMap symlink swaps) unreliably, while hashing a
 * handful of small files twice a second costs nothing. Waiting for two equal readings debounces
 * an editor or `git checkout` writing several files, so a half-written set is never loaded.
 */
export function watchRevision(options: RevisionWatchOptions): Watcher {
  const interval = options.intervalMs ?? 500;
  let current = options.initialRevision;
  let candidate: string | undefined;
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    let revision: string;
    try {
      revision = await options.revisionOf();
      failing = false;
    } catch (err) {
      // A file or directory being replaced is briefly unreadable; say so once.
      if (!failing) options.logger.warn({ err }, `${options.what} unreadable`);
      failing = true;
      return;
    }
    if (revision === current) {
      candidate = undefined;
      return;
    }
    if (revision !== candidate) {
      candidate = revision;
      return;
    }
    // Stable for one interval: act on it, once, whether or not it loads (a broken edit is
    // reported by onChange and retried only when the sources change again).
    current = revision;
    candidate = undefined;
    options.logger.info({ revision }, `${options.what} changed: reloading`);
    await options.onChange(revision);
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => options.logger.error({ err }, `${options.what} watch failed`))
        .finally(schedule);
    }, interval);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
