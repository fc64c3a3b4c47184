import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, type DirectoryHolder, migrate, openDirectory } from '@countersign/runtime';
import { TEST_DIRECTORY_FILE, type TestDatabase, testNatsAt } from '@countersign/test-fixtures';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { resolveChannels } from '../../src/channel-config.js';
import { NotifierEnv } from '../../src/config.js';
import { type Notifier, startNotifier } from '../../src/service.js';

export const REVIEW_SECRET = 'review-link-secret-for-tests-0123456789abcdef';
export const PUBLIC_URL = 'https://countersign.test';
/** A valid Standard Webhooks secret (24 bytes). */
export const WEBHOOK_SECRET = `whsec_${Buffer.from('test-webhook-signing-key-24b').toString('base64')}`;

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Env for tests: tiny retry delays, loopback receivers allowed. */
export function testEnv(
  db: TestDatabase,
  natsUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NATS_URL: natsUrl,
    DATABASE_URL: db.url,
    DIRECTORY_FILE: TEST_DIRECTORY_FILE,
    NOTIFIER_CONFIG: 'inline',
    PUBLIC_URL,
    REVIEW_LINK_SECRET: REVIEW_SECRET,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    NOTIFIER_RETRY_SCHEDULE: '0,50ms,100ms',
    NOTIFIER_RETRY_JITTER: '0',
    NOTIFIER_POLL_INTERVAL: '100ms',
    WEBHOOK_TIMEOUT: '2s',
    SMTP_TIMEOUT: '3s',
    MARKDOWN_POLL_INTERVAL: '100ms',
    LOG_LEVEL: 'debug',
    WEBHOOK_SECRET,
    ...extra,
  };
}

/** A person in a test's own directory file. */
export interface TestPerson {
  email?: string;
  roles?: string[];
  slack_user?: string;
  channels?: string[];
}

/**
 * Writes a directory file of `people` (and the notifier service, which relays markdown
 * decisions) to a fresh temp folder, for tests that need other people than the test directory.
 */
export function writeDirectory(people: Record<string, TestPerson>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'notifier-directory-')), 'directory.yaml');
  writeFileSync(file, directoryText(people));
  return file;
}

/**
 * The test directory (every person and requesting system the harness knows) with some people's
 * entries changed, e.g. `{ alice: { channels: ['vault'] } }`, written to a fresh temp folder:
 * for tests whose services must all read the same directory (DIRECTORY_FILE of each).
 */
export function testDirectoryWith(changes: Record<string, TestPerson>): string {
  const document = parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8')) as {
    people: Record<string, TestPerson>;
  };
  for (const [identity, change] of Object.entries(changes)) {
    document.people[identity] = { ...document.people[identity], ...change };
  }
  const file = join(mkdtempSync(join(tmpdir(), 'notifier-directory-')), 'directory.yaml');
  writeFileSync(file, stringify(document));
  return file;
}

export function directoryText(people: Record<string, TestPerson>): string {
  return stringify({ people, services: { notifier: { relays_decisions: true } } });
}

export interface TestNotifier {
  notifier: Notifier;
  /** The directory the notifier reads (DIRECTORY_FILE of `env`), reloaded as the file changes. */
  directory: DirectoryHolder;
  pool: pg.Pool;
  /** Every log line so far, as JSON text. */
  logs(): string[];
  stop(): Promise<void>;
}

/**
 * Runs the notifier in this process against the test's NATS and database, reading the
 * directory as the scaffold does (DIRECTORY_FILE of `env`, the test directory unless set).
 */
export async function startTestNotifier(
  env: Record<string, string>,
  channelsDocument: unknown,
): Promise<TestNotifier> {
  const config = NotifierEnv.parse(env);
  const parsed = config.env;
  const channels = resolveChannels(channelsDocument, env, { allowHttp: parsed.WEBHOOK_ALLOW_HTTP });
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const logger = createLogger({ service: 'notifier', level: parsed.LOG_LEVEL, destination: stream });
  const pool = new pg.Pool({ connectionString: parsed.DATABASE_URL.reveal(), max: 5 });
  pool.on('error', () => {});
  // As `pnpm migrate` does: the schema is migrated by its owner, and the notifier runs as its own
  // role, granted rows of its schema only (nothing of the approval schema). `pool` stays the
  // owner's, for the tests to inspect.
  const role = {
    name: `cs_notifier_${randomBytes(4).toString('hex')}`,
    password: randomBytes(12).toString('hex'),
  };
  await pool.query(`create role ${role.name} login password '${role.password}'`);
  await migrate(pool, { dir: MIGRATIONS, schema: 'notifier', logger, runtimeRole: role.name });
  const roleUrl = new URL(parsed.DATABASE_URL.reveal());
  roleUrl.username = role.name;
  roleUrl.password = role.password;
  const servicePool = new pg.Pool({ connectionString: roleUrl.toString(), max: 5 });
  servicePool.on('error', () => {});
  const directory = await openDirectory({ file: parsed.DIRECTORY_FILE, logger, intervalMs: 100 });
  // As the process would: the notifier's own NATS user on a harness-started server.
  const nc = await (testNatsAt(parsed.NATS_URL)?.connect('notifier') ??
    connect({ servers: parsed.NATS_URL }));
  const notifier = await startNotifier({ nc, pool: servicePool, logger, config, channels, directory });
  let stopped = false;
  return {
    notifier,
    directory,
    pool,
    logs: () => lines,
    async stop() {
      if (stopped) return;
      stopped = true;
      await notifier.stop();
      await directory.stop();
      await nc.drain();
      await servicePool.end();
      await pool.query(`drop owned by ${role.name}`);
      await pool.query(`drop role ${role.name}`);
      await pool.end();
    },
  };
}
