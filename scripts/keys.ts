/**
 * `pnpm keys`: the Ed25519 key set (a JWK Set) the approval service signs decision receipts
 * with (SIGNING_KEYS_FILE, or its content in SIGNING_KEYS). docs/security.md "Receipts".
 *
 *   pnpm keys generate                 # prints a new key set (for SIGNING_KEYS, or redirect to a file)
 *   pnpm keys generate --out <file>    # writes it to <file> (mode 0600), refusing to overwrite one
 *   pnpm keys generate --env           # prints a SIGNING_KEYS='…' line for compose's .env
 *   pnpm keys rotate <file>            # puts a new key first in <file>; the old keys stay, so
 *                                      # receipts they signed keep verifying; restart the service
 *   --kid <kid>                        # the new key's id (default: its RFC 7638 thumbprint)
 *
 * Exit 0 on success; 1 with the reason (never a key) on stderr; 2 on a usage error.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newKeySetText, rotatedKeySetText, SigningKeysError } from '../packages/runtime/src/signing-keys.js';

const USAGE =
  'usage: pnpm keys generate [--out <file> | --env] [--kid <kid>] | pnpm keys rotate <file> [--kid <kid>]';

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

let parsed: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { out: { type: 'string' }, kid: { type: 'string' }, env: { type: 'boolean' } },
  });
}
try {
  parsed = parseOptions();
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
const [command, file, ...extra] = parsed.positionals;
const { out, kid, env } = parsed.values;

try {
  if (command === 'generate' && file === undefined && !(env && out !== undefined)) {
    const text = newKeySetText(kid);
    // One line, single-quoted: compose reads a single-quoted .env value literally.
    if (env) process.stdout.write(`SIGNING_KEYS='${JSON.stringify(JSON.parse(text))}'\n`);
    else if (out === undefined) process.stdout.write(text);
    else {
      // 'wx': never replace a key set by accident, which would orphan every receipt it signed.
      writeFileSync(out, text, { mode: 0o600, flag: 'wx' });
      process.stderr.write(`wrote a new key set to ${out}\n`);
    }
  } else if (command === 'rotate' && file !== undefined && extra.length === 0 && out === undefined && !env) {
    if (!existsSync(file)) fail(`${file}: no such file (pnpm keys generate --out ${file} makes one)`, 1);
    const rotated = rotatedKeySetText(readFileSync(file, 'utf8'), file, kid);
    // Written beside it and renamed over it: a crash never leaves half a key set.
    const temporary = `${file}.rotating`;
    writeFileSync(temporary, rotated, { mode: 0o600 });
    renameSync(temporary, file);
    const kids = (JSON.parse(rotated) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    process.stderr.write(
      `rotated ${file}: ${kids[0]} signs from the next start; kept ${kids.slice(1).join(', ')}\n`,
    );
  } else {
    fail(USAGE, 2);
  }
} catch (err) {
  if (err instanceof SigningKeysError || (err as NodeJS.ErrnoException).code) fail((err as Error).message, 1);
  throw err;
}
