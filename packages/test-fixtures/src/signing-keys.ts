import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeySetText } from '@countersign/runtime';

let file: string | undefined;

/**
 * The signing key set (SIGNING_KEYS_FILE) every approval service of this test process signs
 * receipts with: a fresh Ed25519 key written once per process (mode 0600) and removed when the
 * process exits. A fresh key per run: no test can pass by accident on a key a previous run leaked.
 */
export function testSigningKeysFile(): string {
  if (file) return file;
  const dir = mkdtempSync(join(tmpdir(), 'countersign-keys-'));
  const path = join(dir, 'signing-keys.json');
  writeFileSync(path, newKeySetText(), { mode: 0o600 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  file = path;
  return path;
}
