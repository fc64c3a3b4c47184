/**
 * The first hour on a fresh machine: the bootstrap (sourced by the run and test commands) says
 * which cache it uses, puts pnpm next to the other tools and links it into a bin directory for
 * later shells, refuses an unsupported platform in one line, and leaves Chromium to the test
 * command.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

async function bash(script: string, env: Record<string, string>) {
  return run('bash', ['-c', script], { cwd: REPO_ROOT, env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout,
      stderr: err.stderr,
    }),
  );
}

describe('scripts/bootstrap.sh', () => {
  it('prints its cache, and links pnpm beside the tools and into the link directory', async () => {
    const linkDir = join(mkdtempSync(join(tmpdir(), 'countersign-link-')), 'bin');
    const cache = process.env.COUNTERSIGN_CACHE;
    const { code, stdout, stderr } = await bash(
      '. scripts/bootstrap.sh && command -v pnpm && pnpm --version',
      {
        COUNTERSIGN_LINK_DIR: linkDir,
      },
    );
    expect(code, stderr).toBe(0);
    const root = cache ?? /bootstrap: cache (\S+);/.exec(stderr)?.[1];
    expect(stderr).toContain(`bootstrap: cache ${root}; tools (pnpm, opa, nats-server, nats) in ${root}/bin`);
    const [where, version] = stdout.trim().split('\n');
    expect(where).toBe(`${root}/bin/pnpm`);
    const pinned = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).packageManager.split(
      '@',
    )[1];
    expect(version).toBe(pinned);
    expect(realpathSync(join(linkDir, 'pnpm'))).toBe(realpathSync(`${root}/bin/pnpm`));
    // Not on PATH: one line says how to add it.
    expect(stderr).toContain(
      `pnpm is linked in ${linkDir}, which is not on your PATH; add it: export PATH="${linkDir}:$PATH"`,
    );
  });

  it('refuses an unsupported platform with one line and exit 1', async () => {
    const fake = mkdtempSync(join(tmpdir(), 'countersign-uname-'));
    writeFileSync(join(fake, 'uname'), '#!/bin/sh\ncase "$1" in -s) echo Darwin;; -m) echo arm64;; esac\n');
    chmodSync(join(fake, 'uname'), 0o755);
    const { code, stdout, stderr } = await bash('bash scripts/bootstrap.sh', {
      PATH: `${fake}:${process.env.PATH}`,
    });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'bootstrap: unsupported platform: Darwin arm64; the run and test commands support Linux x86_64 only (docker compose runs anywhere Docker does)',
    ]);
  });

  it('leaves Chromium to the test command', () => {
    expect(readFileSync(join(REPO_ROOT, 'scripts/bootstrap.sh'), 'utf8')).not.toMatch(/apt-get|chromium -/i);
    expect(readFileSync(join(REPO_ROOT, 'scripts/run.sh'), 'utf8')).not.toContain('chromium');
    expect(readFileSync(join(REPO_ROOT, 'scripts/test.sh'), 'utf8')).toContain(
      'bash scripts/install-chromium.sh',
    );
    expect(existsSync(join(REPO_ROOT, 'scripts/install-chromium.sh'))).toBe(true);
  });
});
