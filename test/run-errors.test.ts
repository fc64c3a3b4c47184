/**
 * The run command with infrastructure it cannot reach: it says in one line which dependency and
 * where (never the password in the URL), within seconds rather than a 30 s "timed out", exits
 * non-zero, and stops whatever it had started.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening, REPO_ROOT } from '@countersign/devinfra';
import { afterAll, describe, expect, it } from 'vitest';

const PASSWORD = 'do-not-print-this-password';
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `bash scripts/run.sh` with `env` over this environment (minus the harness's shared servers). */
function runCommand(env: Record<string, string>): Promise<Outcome> {
  const { DATABASE_URL: _db, NATS_URL: _nats, ...inherited } = process.env;
  const started = Date.now();
  const child = spawn('bash', ['scripts/run.sh'], {
    cwd: REPO_ROOT,
    env: { ...inherited, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // A run that starts anyway would never exit: stop it, and the assertions below fail.
  const guard = setTimeout(() => child.kill('SIGINT'), 50_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The lines that say why the run stopped. */
const reasons = (out: Outcome) => out.stderr.split('\n').filter((l) => l.startsWith('countersign: '));

describe('the run command, with a dependency it cannot reach', () => {
  it('names NATS and where (without the password), within seconds, and exits 1', async () => {
    const port = await freePort();
    const out = await runCommand({ NATS_URL: `nats://ops:${PASSWORD}@127.0.0.1:${port}` });
    expect(out.code, out.stderr).toBe(1);
    expect(reasons(out)).toEqual([
      `countersign: cannot reach NATS at nats://127.0.0.1:${port} (NATS_URL) within 5000 ms`,
    ]);
    expect(out.stdout + out.stderr).not.toContain(PASSWORD);
    expect(out.stdout).not.toContain('Countersign is running');
    expect(out.ms).toBeLessThan(20_000);
  });

  it('names PostgreSQL and where (host:port/database, without the password), and exits 1', async () => {
    const port = await freePort();
    const out = await runCommand({
      DATABASE_URL: `postgres://countersign:${PASSWORD}@127.0.0.1:${port}/countersign`,
    });
    expect(out.code, out.stderr).toBe(1);
    const lines = reasons(out);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^countersign: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/countersign \\(DATABASE_URL\\) within 5000 ms: .*ECONNREFUSED`,
      ),
    );
    expect(out.stdout + out.stderr).not.toContain(PASSWORD);
    expect(out.ms).toBeLessThan(20_000);
  });

  it('when a service cannot reach it, says so in the service’s words and stops what it started', async () => {
    // Something accepts TCP on the NATS port but never speaks NATS: the run's check passes, it
    // starts its PostgreSQL, and the policy service is the one that cannot connect.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const natsPort = (silent.address() as { port: number }).port;
    const pgPort = await freePort();
    const pgData = mkdtempSync(join(tmpdir(), 'countersign-run-pg-'));
    dirs.push(pgData);
    try {
      const out = await runCommand({
        NATS_URL: `nats://ops:${PASSWORD}@127.0.0.1:${natsPort}`,
        PG_PORT: String(pgPort),
        COUNTERSIGN_DEV_PGDATA: join(pgData, 'data'),
        HTTP_PORT: String(await freePort()),
        STARTUP_TIMEOUT: '3s',
        // No credentials needed to find out that nothing answers.
        NATS_AUTH: 'off',
      });
      expect(out.code, out.stderr).toBe(1);
      expect(reasons(out)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^countersign: policy service: cannot reach NATS at nats://127\\.0\\.0\\.1:${natsPort} \\(NATS_URL\\) within 3000 ms`,
          ),
        ),
      ]);
      expect(out.stdout + out.stderr).not.toContain(PASSWORD);
      // The PostgreSQL it started is stopped again.
      expect(await isListening(pgPort)).toBe(false);
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
