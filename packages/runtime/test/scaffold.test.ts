/**
 * The service scaffold as a real process (test/fixtures/scaffolded.ts): a bad configuration is
 * one JSON line naming the variables (never their values) and exit 1; a good one migrates,
 * connects, logs ready, and on SIGTERM stops its parts in order before the connection and the
 * pool close, exit 143.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_DIRECTORY_FILE, useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/scaffolded.ts', import.meta.url));

const [db, nats] = await Promise.all([useTestDatabase('scaffold'), useTestNats()]);
const pool = new pg.Pool({ connectionString: db.url, max: 2 });
// The database is dropped with its connections at file end: an idle client's error then is expected.
pool.on('error', () => {});
afterAll(() => pool.end());

function migrations(sql: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-scaffold-'));
  writeFileSync(join(dir, '000001_init.sql'), sql);
  return dir;
}

/** Runs the fixture with exactly `env` (plus PATH), collecting its stdout and stderr lines. */
function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DIRECTORY_FILE: TEST_DIRECTORY_FILE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.on('data', (c: Buffer) => stdout.push(...c.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (c: Buffer) => stderr.push(...c.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  afterAll(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout, stderr, exited, json: () => stdout.map((l) => JSON.parse(l)) };
}

describe('runService', () => {
  it('logs a configuration error as one JSON line naming each variable, never its value, and exits 1', async () => {
    const secretish = 'postgres-password-in-a-bad-value';
    const proc = run({ SHUTDOWN_TIMEOUT: secretish, LOG_LEVEL: 'loud', NATS_URL: nats.url });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr).toEqual([]);
    expect(proc.stdout).toHaveLength(1);
    const [line] = proc.json();
    expect(line).toMatchObject({ level: 60, service: 'fixture', msg: 'invalid configuration' });
    expect(line.issues.map((i: { variable: string }) => i.variable).sort()).toEqual([
      'DATABASE_URL',
      'LOG_LEVEL',
      'SHUTDOWN_TIMEOUT',
    ]);
    expect(proc.stdout[0]).not.toContain(secretish);
  });

  it('migrates, connects, logs ready; SIGTERM stops the parts in order, then NATS and the pool; exit 143', async () => {
    const nc = await nats.connect();
    afterAll(() => nc.close());
    const stopping = nc.subscribe('fixture.stopping', { max: 1 });
    const proc = run({
      ...nats.env('ops'),
      DATABASE_URL: db.url,
      DB_POOL_SIZE: '2',
      FIXTURE_GREETING: 'hi there',
      FIXTURE_MIGRATIONS: migrations(
        'create table fixture.items (id int); insert into fixture.items values (1), (2);',
      ),
    });
    await waitUntil(() => proc.stdout.some((l) => l.includes('"msg":"ready"')), { message: 'fixture ready' });
    const ready = proc.json().find((l) => l.msg === 'ready');
    expect(ready).toMatchObject({ service: 'fixture', greeting: 'hi there' });
    expect((await nc.request('fixture.greet', '', { timeout: 5000 })).string()).toBe('hi there');
    const applied = await pool.query('select name from fixture.migrations');
    expect(applied.rows.map((r) => r.name)).toEqual(['000001_init.sql']);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(143);
    const messages = proc
      .json()
      .filter((l) => ['part stopped', 'stopped', 'shutting down'].includes(l.msg))
      .map((l) => (l.part ? `${l.msg}: ${l.part}` : l.msg));
    expect(messages).toEqual([
      'shutting down',
      'part stopped: endpoints',
      'part stopped: consumers',
      'stopped',
    ]);
    // The last part still had the pool and the connection.
    expect(proc.json().find((l) => l.part === 'consumers')?.items).toBe(2);
    for await (const _ of stopping) break;
  });

  it('logs a failed start (here, an applied migration that was edited) and exits 1, never ready', async () => {
    const proc = run({
      ...nats.env('ops'),
      DATABASE_URL: db.url,
      FIXTURE_MIGRATIONS: migrations('create table fixture.items (id int);'),
    });
    expect(await proc.exited).toBe(1);
    const fatal = proc.json().find((l) => l.level === 60);
    expect(fatal?.msg).toBe('failed to start');
    expect(proc.json().some((l) => l.msg === 'ready')).toBe(false);
  });
});
