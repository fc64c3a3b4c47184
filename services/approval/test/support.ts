/**
 * Integration harness: a fresh database, a private nats-server, the real policy service as a
 * child process, and the approval service started in-process on them (so tests can also reach
 * its lifecycle functions). Everything stops after the test file.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  type Approval,
  type ApprovalEvent,
  type ApprovalRequestInput,
  CountersignError,
  decodeApprovalEvent,
  Streams,
  Subjects,
} from '@countersign/contracts';
import { createLogger, ensureStreams, type Logger, migrate, openDirectory } from '@countersign/runtime';
import {
  call,
  spawnService,
  TEST_AUDIT_KEY,
  TEST_DIRECTORY_FILE,
  testSigningKeysFile,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import pg from 'pg';
import { afterAll, expect } from 'vitest';
import { ApprovalEnv } from '../src/config.js';
import { approvalMigrations } from '../src/migrations.js';
import { type ApprovalSettings, startApprovalService } from '../src/service.js';

/** Quiet unless a test run asks for logs. */
export const testLogger = createLogger({
  service: 'approval-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
});

export async function startHarness(
  label: string,
  config: Partial<ApprovalSettings> = {},
  logger: Logger = testLogger,
  /**
   * `ownNats`: a nats-server of the file's own, even with NATS_URL set (to crash it).
   * `policyEnv`: more environment for the policy service (a POLICY_DIR with other data).
   */
  options: { ownNats?: boolean; policyEnv?: Record<string, string> } = {},
) {
  const [db, nats] = await Promise.all([useTestDatabase(label), useTestNats({ own: options.ownNats })]);
  const policy = await spawnService('policy', { env: { NATS_URL: nats.url, ...options.policyEnv } });
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on('error', () => {});
  // The service runs as its own role, as `pnpm migrate` grants it: rows of its schema, audit
  // events and votes insert-only, no DDL, owning nothing. The tests' `pool` is the owner's, to
  // inspect and to tamper as only an owner can.
  const role = { name: `${db.name}_svc`, password: randomBytes(12).toString('hex') };
  await pool.query(`create role ${role.name} login password '${role.password}'`);
  await migrate(pool, { ...approvalMigrations, runtimeRole: role.name, logger: testLogger });
  const serviceUrl = new URL(db.url);
  serviceUrl.username = role.name;
  serviceUrl.password = role.password;
  const servicePool = new pg.Pool({ connectionString: serviceUrl.toString(), max: 10 });
  servicePool.on('error', () => {});
  // Reconnect forever, as services do: some tests restart the nats-server. The service runs
  // as its own least-privilege user; the tests' client connection is ops (any subject, any actor).
  const reconnecting = { maxReconnectAttempts: -1, reconnectTimeWait: 200 };
  const serviceNc = await nats.connect('approval', reconnecting);
  const nc = await nats.connect('ops', reconnecting);
  await ensureStreams(await jetstreamManager(serviceNc));
  const directory = await openDirectory({ file: TEST_DIRECTORY_FILE, logger: testLogger });
  // The defaults are the schema's; only the sweeps and retries are made fast for tests, and
  // /metrics reads the database on every scrape (tests check it against the tables).
  const parsed = ApprovalEnv.parse({
    DATABASE_URL: db.url,
    DIRECTORY_FILE: TEST_DIRECTORY_FILE,
    SIGNING_KEYS_FILE: testSigningKeysFile(),
    METRICS_CACHE: '0',
    AUDIT_KEY: TEST_AUDIT_KEY,
    EXPIRY_INTERVAL: '200ms',
    OUTBOX_POLL_INTERVAL: '200ms',
    INTAKE_RETRY_BASE: '50ms',
    INTAKE_RETRY_MAX: '500ms',
  });
  const service = await startApprovalService({
    nc: serviceNc,
    pool: servicePool,
    logger,
    directory,
    keyring: parsed.signingKeys,
    settings: { ...parsed.service, ...config },
  });
  afterAll(async () => {
    await service.stop();
    await directory.stop();
    await serviceNc.drain();
    await nc.drain();
    await servicePool.end();
    await pool.query(`drop owned by ${role.name}`);
    await pool.query(`drop role ${role.name}`);
    await pool.end();
  });
  return { db, nats, policy, pool, servicePool, nc, js: jetstream(nc), service };
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

export { call };

/** The CountersignError a call fails with (fails the test if it succeeds). */
export async function refusal(promise: Promise<unknown>): Promise<CountersignError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignError);
    return err as CountersignError;
  }
  throw new Error('expected the call to fail');
}

/** A logger that keeps every line, for tests that wait on what the service reported. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ service: 'approval-test', level: 'debug', destination }), lines };
}

let counter = 0;
/** A unique action_id per call, readable in failures. */
export function actionId(prefix: string): string {
  counter++;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export function request(prefix: string, overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  return {
    action_id: actionId(prefix),
    action_type: 'payment',
    description: `Pay invoice ${counter}`,
    requested_by: 'dave',
    context: { amount: 50 },
    ...overrides,
  };
}

export type { Approval };

/** Messages per subject on APPROVAL_EVENTS under `filter` (e.g. `approval.decided.>`). */
export async function eventCounts(nc: NatsConnection, filter: string): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(Streams.events, { subjects_filter: filter });
  return info.state.subjects ?? {};
}

/** The last event on a subject, parsed with the contract's schema; undefined if there is none. */
export async function lastEvent(nc: NatsConnection, subject: string): Promise<ApprovalEvent | undefined> {
  const jsm = await jetstreamManager(nc);
  const msg = await jsm.streams.getMessage(Streams.events, { last_by_subj: subject }).catch(() => null);
  if (!msg) return undefined;
  const decoded = decodeApprovalEvent(msg.data);
  if (!decoded.ok) throw decoded.error;
  return decoded.event;
}

/** Waits until exactly one decided event exists for the approval, and returns it. */
export async function decidedEvent(nc: NatsConnection, actionId: string): Promise<ApprovalEvent> {
  const subject = Subjects.decided(actionId);
  await waitUntil(async () => (await eventCounts(nc, subject))[subject] === 1, {
    message: `one event on ${subject}`,
  });
  const event = await lastEvent(nc, subject);
  if (!event) throw new Error(`no event on ${subject}`);
  return event;
}
