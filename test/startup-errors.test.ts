/**
 * Every service that cannot reach a dependency at start says so in one fatal JSON line naming
 * it and where (never a password), within STARTUP_TIMEOUT, and exits 1: instead of waiting
 * forever for a NATS that is not there.
 */
import { freePort } from '@countersign/devinfra';
import {
  TEST_AUDIT_KEY,
  TEST_DIRECTORY_FILE,
  testSigningKeysFile,
  useTestDatabase,
  useTestNats,
} from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { runScript } from './support.js';

const PASSWORD = 'do-not-log-this-password';
const [db, nats] = await Promise.all([useTestDatabase('startup_errors'), useTestNats({ own: true })]);
const deadPort = await freePort();
// Everything else each service requires is valid, so the dependency is all that can fail.
const base = {
  DIRECTORY_FILE: TEST_DIRECTORY_FILE,
  STARTUP_TIMEOUT: '2s',
  NOTIFIER_CONFIG: 'unused.yaml',
  AUDIT_KEY: TEST_AUDIT_KEY,
  SIGNING_KEYS_FILE: testSigningKeysFile(),
};
const deadNats = { NATS_URL: `nats://svc:${PASSWORD}@127.0.0.1:${deadPort}`, NATS_AUTH: 'off' };
const deadDatabase = `postgres://countersign:${PASSWORD}@127.0.0.1:${deadPort}/countersign`;

/** Runs a service to its exit; its fatal line, parsed, and how long it took. */
async function start(service: string, env: Record<string, string>) {
  const started = Date.now();
  const run = await runScript(`services/${service}/src/main.ts`, { ...base, ...env }, 20_000);
  const fatal = run.lines.filter((l) => l.includes('"level":60'));
  const all = run.lines.join('\n') + run.stderr;
  expect(all).not.toContain(PASSWORD);
  return { code: run.code, fatal: fatal.map((l) => JSON.parse(l)), ms: Date.now() - started };
}

describe('a service that cannot reach a dependency at start', () => {
  it.each(['policy', 'approval', 'notifier'])('%s: names NATS and its servers, exit 1', async (service) => {
    const run = await start(service, { ...deadNats, DATABASE_URL: db.url });
    expect(run.code).toBe(1);
    expect(run.fatal).toHaveLength(1);
    expect(run.fatal[0]).toMatchObject({
      service,
      dependency: 'nats',
      nats_url: `nats://127.0.0.1:${deadPort}`,
      msg: `cannot reach NATS at nats://127.0.0.1:${deadPort} (NATS_URL) within 2000 ms: connection refused`,
    });
    expect(run.ms).toBeLessThan(15_000);
  });

  it.each(['approval', 'notifier'])('%s: names PostgreSQL as host:port/database, exit 1', async (service) => {
    const run = await start(service, { ...deadNats, DATABASE_URL: deadDatabase });
    expect(run.code).toBe(1);
    expect(run.fatal).toHaveLength(1);
    expect(run.fatal[0]).toMatchObject({
      service,
      dependency: 'postgresql',
      database: `127.0.0.1:${deadPort}/countersign`,
    });
    expect(run.fatal[0].msg).toMatch(
      new RegExp(
        `^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${deadPort}/countersign \\(DATABASE_URL\\) within 2000 ms: .*ECONNREFUSED`,
      ),
    );
  });

  it('approval: a database that refuses (here, one that does not exist) is reported at once', async () => {
    const missing = new URL(db.url);
    missing.pathname = '/no_such_database';
    missing.password = PASSWORD;
    const run = await start('approval', { ...deadNats, DATABASE_URL: missing.toString() });
    expect(run.code).toBe(1);
    expect(run.fatal[0]).toMatchObject({
      dependency: 'postgresql',
      database: `${missing.hostname}:${missing.port}/no_such_database`,
    });
    expect(run.fatal[0].msg).toMatch(/refused the connection: .*no_such_database.* does not exist/);
  });

  it('policy: NATS refusing its credentials is reported at once, not waited out', async () => {
    const env = nats.env('policy');
    expect(env.NATS_PASSWORD).toBeTruthy();
    const run = await start('policy', { ...env, NATS_PASSWORD: PASSWORD, STARTUP_TIMEOUT: '30s' });
    expect(run.code).toBe(1);
    expect(run.fatal).toHaveLength(1);
    expect(run.fatal[0]).toMatchObject({ dependency: 'nats', nats_url: env.NATS_URL });
    expect(run.fatal[0].msg).toMatch(/^NATS at \S+ refused the connection: .*authoriz/i);
    expect(run.ms).toBeLessThan(15_000);
  });

  it('policy: a bundle file that is not there names POLICY_BUNDLE and the path', async () => {
    const run = await start('policy', {
      ...nats.env('policy'),
      POLICY_BUNDLE: '/nonexistent/bundle.tar.gz',
      POLICY_BUCKET: '',
    });
    expect(run.code).toBe(1);
    expect(run.fatal).toHaveLength(1);
    expect(run.fatal[0]).toMatchObject({
      dependency: 'policy',
      policy_bundle: '/nonexistent/bundle.tar.gz',
      variable: 'POLICY_BUNDLE',
    });
    expect(run.fatal[0].msg).toMatch(
      /^no valid policy to serve: bundle \/nonexistent\/bundle\.tar\.gz \(POLICY_BUNDLE\): .*ENOENT/,
    );
  });
});
