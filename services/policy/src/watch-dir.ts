import { type Logger, type Watcher, watchRevision } from '@countersign/runtime';
import { sourceRevision } from './bundle.js';

export type { Watcher } from '@countersign/runtime';

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

/** Dev hot reload of the policy sources: rebuilds when their digest changes. */
export function watchPolicyDir(options: DirWatchOptions): Watcher {
  return watchRevision({
    what: 'policy sources',
    revisionOf: () => sourceRevision(options.dir),
    initialRevision: options.initialRevision,
    ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}),
    onChange: options.onChange,
    logger: options.logger.child({ dir: options.dir }),
  });
}
