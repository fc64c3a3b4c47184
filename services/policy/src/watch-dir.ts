import type { Logger } from '@countersign/runtime';
import { sourceRevision } from './bundle.js';

export interface DirWatchOptions {
  dir: string;
  /** Revision of the sources already loaded (or already tried): no rebuild for it. */
  initialRevision: string;
  /** Poll interval; a change is acted on once two polls in a row agree. Default 500 ms. */
  intervalMs?: number;
  /** Rebuild and swap; called one change at a time. */
  onChange(revision: string): Promise<void>;
  logger: Logger;
}

export interface Watcher {
  stop(): Promise<void>;
}

/**
 * Dev hot reload: polls a digest of the policy sources and calls `onChange` when it changes.
 * Polling, not fs.watch: Node 20's recursive fs.watch on Linux misses directories created
 * after it starts and reports editors' write-rename saves unreliably, while hashing a handful
 * of small files twice a second costs nothing. Waiting for two equal readings debounces an
 * editor or `git checkout` writing several files, so a half-written set is never built.
 */
export function watchPolicyDir(options: DirWatchOptions): Watcher {
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
      revision = await sourceRevision(options.dir);
      failing = false;
    } catch (err) {
      // A directory being replaced (git checkout) is briefly unreadable; say so once.
      if (!failing) options.logger.warn({ dir: options.dir, err }, 'policy directory unreadable');
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
    // Stable for one interval: act on it, once, whether or not it builds (a broken edit is
    // reported by onChange and retried only when the sources change again).
    current = revision;
    candidate = undefined;
    options.logger.info({ dir: options.dir, revision }, 'policy sources changed: rebuilding');
    await options.onChange(revision);
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => options.logger.error({ err }, 'policy directory watch failed'))
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
