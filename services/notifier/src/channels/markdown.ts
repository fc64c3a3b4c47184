import { join } from 'node:path';
import type pg from 'pg';
import type { MarkdownSettings } from '../channel-config.js';
import type { MarkdownFolder } from '../markdown/folder.js';
import { fileNameFor, parseEditable, renderApprovalFile } from '../markdown/format.js';
import { recordWrittenFile, writtenFile } from '../store/markdown-files.js';
import type { Channel } from './types.js';

/**
 * Markdown files for teams that review in a folder: a pending approval becomes
 * `approval_<action_id>.md`; its decision rewrites the file with the outcome. Every file written
 * is recorded (channel, approval, path, nonce) so the watcher acts only on files written here.
 */
export function createMarkdownChannel(
  settings: MarkdownSettings,
  folder: MarkdownFolder,
  pool: pg.Pool,
): Channel {
  return {
    name: settings.name,
    kind: 'markdown',
    settings,
    // Writing the same file again is harmless.
    resendsUnknown: true,
    supersededByDecision: false,
    targets: (event) => {
      // A reminder changes nothing in the file, which is there already.
      if (event.type === 'approval.reminder') return [];
      const file = fileNameFor(event.data.action_id);
      return [{ key: file, detail: { file } }];
    },
    async send({ event, target }) {
      const actionId = event.data.action_id;
      const file = target.detail.file ?? fileNameFor(actionId);
      const path = join(folder.path, file);
      try {
        return await folder.withLock(file, async () => {
          const existing = await folder.read(file);
          if (event.type !== 'approval.decided' && existing !== undefined) {
            const fields = parseEditable(existing);
            const ours = await writtenFile(pool, settings.name, actionId);
            if (ours && ours.path === path && fields.nonce === ours.nonce) {
              // Written before (or already decided): rewriting could undo a person's edit in progress.
              const state = fields.writtenState ?? 'unknown';
              return { result: 'delivered' as const, detail: `file exists (state ${state}); left as is` };
            }
            // A file this channel did not write (planted before the event arrived, or copied from
            // another folder) is replaced: it decides nothing, and the approvers need the real one.
          }
          const nonce = await recordWrittenFile(pool, { channel: settings.name, actionId, path });
          await folder.write(file, renderApprovalFile(event.data, { nonce }));
          return { result: 'delivered' as const, detail: `wrote ${file}` };
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === undefined || !/^E[A-Z]+$/.test(e.code)) {
          // Not a file-system error (the store is unreachable): retried all the same.
          return { result: 'retry', error: `cannot record ${file}: ${e.message ?? String(err)}` };
        }
        return { result: 'retry', error: `${e.code}: cannot write ${file}` };
      }
    },
  };
}
