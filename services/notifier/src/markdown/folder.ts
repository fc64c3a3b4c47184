import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The folder of one markdown channel, shared by the channel (writes new and decided approvals)
 * and the watcher (writes back results of edits). Writes of one file are serialised here and
 * are atomic (temp file + rename), so neither a reader nor the other writer sees half a file.
 */
export class MarkdownFolder {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(readonly path: string) {}

  async ensure(): Promise<void> {
    await mkdir(this.path, { recursive: true });
  }

  /** The file's text, or undefined when it does not exist. */
  async read(file: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.path, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async write(file: string, content: string): Promise<void> {
    // Dot-prefixed so the watcher's approval_*.md scan never picks up the temporary file.
    const temp = join(this.path, `.${file}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, content, 'utf8');
      await rename(temp, join(this.path, file));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Runs `fn` with the file's lock held. */
  withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(file) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.catch(() => {});
    this.#locks.set(file, settled);
    void settled.then(() => {
      if (this.#locks.get(file) === settled) this.#locks.delete(file);
    });
    return run;
  }
}
