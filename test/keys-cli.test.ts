/**
 * `pnpm keys`: generates a key set the approval service accepts, refuses to overwrite one, and
 * rotates one so that the new key signs and the old one is still published.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../packages/runtime/src/signing-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'keys-cli-'));

describe('pnpm keys', () => {
  it('generates a key set (mode 0600), never over an existing one, and rotates it', async () => {
    const file = join(dir, 'signing-keys.json');
    const generated = runKeys(['generate']);
    expect(generated.code).toBe(0);
    expect(Keyring.parse(generated.lines.join('\n'), 'stdout').jwks().keys).toHaveLength(1);

    const written = runKeys(['generate', '--out', file, '--kid', 'first']);
    expect(written.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = readFileSync(file, 'utf8');
    const again = runKeys(['generate', '--out', file]);
    expect(again.code).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe(before);

    const rotated = runKeys(['rotate', file, '--kid', 'second']);
    expect(rotated.code).toBe(0);
    const ring = Keyring.parse(readFileSync(file, 'utf8'), file);
    expect(ring.activeKid).toBe('second');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['second', 'first']);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const env = runKeys(['generate', '--env']);
    const line = env.lines[0] as string;
    expect(line).toMatch(/^SIGNING_KEYS='\{.*\}'$/);
    expect(Keyring.parse(line.slice("SIGNING_KEYS='".length, -1), 'env').jwks().keys).toHaveLength(1);

    const usage = runKeys(['rotate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^usage: pnpm keys/);
  });
});

/** `pnpm keys …`, run as pnpm does, to its exit. */
function runKeys(args: string[]): { code: number | null; lines: string[]; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: run.status, lines: run.stdout.split('\n').filter(Boolean), stderr: run.stderr };
}
