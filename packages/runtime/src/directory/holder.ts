import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { type Watcher, watchRevision } from '../watch-revision.js';
import { Directory, DirectoryError } from './directory.js';

export interface DirectoryHolder {
  /** The directory in force: the last file that loaded. */
  current(): Directory;
  /** Called after each successful reload, with the new directory. */
  onChange(listener: (directory: Directory) => void): void;
  stop(): Promise<void>;
}

export interface DirectoryOptions {
  file: string;
  logger: Logger;
  /** Poll interval of the reload; default 500 ms. */
  intervalMs?: number;
}

/**
 * Loads the directory file and reloads it when it changes, without a restart. A file that does
 * not load at start stops the service (it would otherwise run with nobody allowed); a broken
 * edit later is logged and the directory in force stays, so a typo never locks everyone out.
 */
export async function openDirectory(options: DirectoryOptions): Promise<DirectoryHolder> {
  const logger = options.logger.child({ directory: options.file });
  const load = async () => Directory.parse(await readFile(options.file, 'utf8'));
  let directory: Directory;
  try {
    directory = await load();
  } catch (err) {
    const detail = err instanceof DirectoryError ? err.message : (err as Error).message;
    throw new Error(`DIRECTORY_FILE ${options.file}: ${detail}`);
  }
  logSummary(logger, directory, 'directory loaded');
  const listeners: ((directory: Directory) => void)[] = [];
  const watcher: Watcher = watchRevision({
    what: 'directory file',
    revisionOf: async () =>
      createHash('sha256')
        .update(await readFile(options.file))
        .digest('hex')
        .slice(0, 12),
    initialRevision: directory.revision,
    ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}),
    logger,
    onChange: async () => {
      let next: Directory;
      try {
        next = await load();
      } catch (err) {
        logger.error(
          { err, revision: directory.revision },
          'directory reload refused: keeping the directory in force',
        );
        return;
      }
      logSummary(logger, next, 'directory reloaded', directory.revision);
      directory = next;
      for (const listener of listeners) listener(next);
    },
  });
  return {
    current: () => directory,
    onChange: (listener) => listeners.push(listener),
    stop: () => watcher.stop(),
  };
}

function logSummary(logger: Logger, directory: Directory, message: string, previous?: string): void {
  const principals = directory.principals();
  logger.info(
    {
      revision: directory.revision,
      ...(previous ? { previous_revision: previous } : {}),
      people: principals.filter((p) => p.kind === 'person').length,
      services: principals.filter((p) => p.kind === 'service').length,
    },
    message,
  );
}
