import { readFileSync } from 'node:fs';
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
  return { pathOf, read };
}
