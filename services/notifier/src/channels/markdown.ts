import type { MarkdownSettings } from '../channel-config.js';
import type { MarkdownDirectory } from '../markdown/directory.js';
import { fileNameFor, parseEditable, renderApprovalFile } from '../markdown/format.js';
import type { Channel } from './types.js';

/**
 * Markdown files for teams that review in a folder: a pending approval becomes
 * `approval_<action_id>.md`; its decision rewrites the file with the outcome.
 */
export function createMarkdownChannel(settings: MarkdownSettings, directory: MarkdownDirectory): Channel {
  return {
    name: settings.name,
    kind: 'markdown',
    settings,
    // Writing the same file again is harmless.
    resendsUnknown: true,
    supersededByDecision: false,
    targets: (event) => {
      const file = fileNameFor(event.data.action_id);
      return [{ key: file, detail: { file } }];
    },
    async send({ event, target }) {
      const file = target.detail.file ?? fileNameFor(event.data.action_id);
      try {
        return await directory.withLock(file, async () => {
          const existing = await directory.read(file);
          if (event.type === 'approval.pending' && existing !== undefined) {
            // Written before (or already decided): rewriting could undo a person's edit in progress.
            const state = parseEditable(existing).writtenState ?? 'unknown';
            return { result: 'delivered' as const, detail: `file exists (state ${state}); left as is` };
          }
          await directory.write(file, renderApprovalFile(event.data));
          return { result: 'delivered' as const, detail: `wrote ${file}` };
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { result: 'retry', error: `${e.code ?? 'error'}: cannot write ${file}` };
      }
    },
  };
}
