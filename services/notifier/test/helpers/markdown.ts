import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The markdown channel's file for an approval in `directory`, and its text (undefined until written). */
export function markdownFiles(directory: string) {
  const pathOf = (actionId: string) => join(directory, `approval_${actionId}.md`);
  const read = (actionId: string): string | undefined => {
    try {
      return readFileSync(pathOf(actionId), 'utf8');
    } catch {
      return undefined;
    }
  };
  /** What a person does in their editor: fill the three lines of the file's `text` and save. */
  const saveDecision = (actionId: string, text: string, status: string, by: string, reason = '') =>
    writeFileSync(
      pathOf(actionId),
      text
        .replace(/^Status: pending$/m, `Status: ${status}`)
        .replace(/^Approved By: $/m, `Approved By: ${by}`)
        .replace(/^Reason: $/m, `Reason: ${reason}`),
    );
  return { pathOf, read, saveDecision };
}
