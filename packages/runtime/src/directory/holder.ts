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

/** The holder as its opener sees it: it may also put a directory in force from another source. */
export interface OpenedDirectory extends DirectoryHolder {
  /**
   * Puts `next` in force (a directory change loaded from the store), logging `message` with
   * `fields`, and tells the listeners.
   */
  replace(next: Directory, message: string, fields?: Record<string, unknown>): void;
}

export interface DirectoryOptions {
  file: string;
  logger: Logger;
  /** Poll interval of the reload; default 500 ms. */
  intervalMs?: number;
  /**
   * Reload the file when it changes (default true). Off where the directory store
   * (DIRECTORY_BUCKET) is the source: the file is then only the seed read at start, or whoever
   * may edit it could change the directory without an approval.
   */
  watchFile?: boolean;
}

/**
 * Loads the directory file and reloads it when it changes, without a restart. A file that does
 * not load at start stops the service (it would otherwise run with nobody allowed); a broken
 * edit later is logged and the directory in force stays, so a typo never locks everyone out.
 */
export async function openDirectory(options: DirectoryOptions): Promise<OpenedDirectory> {
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
  const replace = (next: Directory, message: string, fields: Record<string, unknown> = {}) => {
    logSummary(logger, next, message, directory.revision, fields);
    directory = next;
    for (const listener of listeners) listener(next);
  };
  if (options.watchFile === false) {
    return {
      current: () => directory,
      onChange: (listener) => listeners.push(listener),
      replace,
      stop: async () => {},
    };
  }
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
      replace(next, 'directory reloaded');
    },
  });
  return {
    current: () => directory,
    onChange: (listener) => listeners.push(listener),
    replace,
    stop: () => watcher.stop(),
  };
}

function logSummary(
  logger: Logger,
  directory: Directory,
  message: string,
  previous?: string,
  fields: Record<string, unknown> = {},
): void {
  const principals = directory.principals();
  logger.info(
    {
      ...fields,
      revision: directory.revision,
      ...(previous ? { previous_revision: previous } : {}),
      people: principals.filter((p) => p.kind === 'person').length,
      services: principals.filter((p) => p.kind === 'service').length,
    },
    message,
  );
}
