/**
 * Starts the real system for the Python tests: a private PostgreSQL and nats-server, and the
 * policy and approval services as processes, as the TypeScript end-to-end harness does. Prints
 * one JSON line `{"nats_url", "http_url"}` once everything is ready, then stays up until its
 * standard input closes (the pytest fixture that spawned it ended or died) or SIGTERM/SIGINT,
 * and stops services before the servers they need.
 *
 * A `crash-nats` line on standard input kills nats-server and starts it again on the same port
 * and store (the reconnect test); `{"nats":"restarted"}` is printed once it is back.
 *
 * Every service reads the test directory (packages/test-fixtures/directory.yaml), and
 * nats-server runs with authentication on, the accounts generated from that directory (devinfra
 * nats-auth.ts) with fresh passwords: each directory identity has its own user, who may
 * publish actor-bound commands only under its own identity (`approval.decide.<identity>`,
 * `approval.requested.<identity>`) and read replies only in its own inbox (`_INBOX_<identity>`);
 * `ops` may do anything (tests acting for several identities, or for one not in the directory);
 * each service connects as its own user. The JSON line's `users` maps each identity, and `ops`,
 * to its NATS user and password.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createDatabase,
  NatsAuth,
  REPO_ROOT,
  type ServiceProcess,
  startNatsServer,
  startPostgres,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';
// A path into the runtime's sources: this launcher is not a workspace package.
import { Directory } from '../../../packages/runtime/src/directory/index.js';
import { newKeySetText } from '../../../packages/runtime/src/signing-keys.js';

/** Test timings (as test/support.ts): fast retries and sweeps, so expiry tests take seconds. */
const FAST_APPROVAL_ENV = {
  INTAKE_ACK_WAIT: '2s',
  INTAKE_RETRY_BASE: '100ms',
  INTAKE_RETRY_MAX: '1s',
  EXPIRY_INTERVAL: '300ms',
  OUTBOX_POLL_INTERVAL: '200ms',
};

const stops: (() => Promise<void>)[] = [];
let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  })();
  return stopping;
}
async function shutdown(code: number): Promise<never> {
  await stopAll();
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown(143));
process.on('SIGINT', () => void shutdown(130));
let input = '';
let onCommand: (command: string) => Promise<void> = async () => {};
process.stdin.on('data', (chunk: Buffer) => {
  input += chunk.toString();
  const lines = input.split('\n');
  input = lines.pop() ?? '';
  for (const line of lines) void onCommand(line.trim());
});
process.stdin.on('end', () => void shutdown(0));
process.stdin.on('close', () => void shutdown(0));
process.stdin.resume();

const DIRECTORY_FILE = join(REPO_ROOT, 'packages/test-fixtures/directory.yaml');
const directory = Directory.parse(readFileSync(DIRECTORY_FILE, 'utf8'));
const auth = NatsAuth.of(directory);
const as = (service: 'approval' | 'policy'): Record<string, string> => {
  const login = auth.login(service);
  return { NATS_USER: login.user, NATS_PASSWORD: login.password };
};
const loginOf = (who: string) => {
  const { user, password } = auth.login(who);
  return { user, password };
};

try {
  // Tests crash nothing here: durability off makes start-up and commits faster.
  const [pg, nats] = await Promise.all([
    startPostgres({ durable: false }),
    startNatsServer({ extraConfig: auth.config() }),
  ]);
  stops.push(pg.stop, nats.stop);
  const databaseUrl = await createDatabase(pg.url, 'countersign_python');
  const env = { NATS_URL: nats.url, DATABASE_URL: databaseUrl, OPA_BIN: tool('opa'), DIRECTORY_FILE };
  const start = async (name: 'policy' | 'approval', extra: Record<string, string> = {}) => {
    const service: ServiceProcess = await startServiceProcess(name, { env: { ...env, ...extra } });
    stops.push(service.stop);
    return service;
  };
  const [, approval] = await Promise.all([
    start('policy', as('policy')),
    start('approval', {
      ...as('approval'),
      ...FAST_APPROVAL_ENV,
      HTTP_PORT: '0',
      REVIEW_LINK_SECRET: randomBytes(32).toString('base64url'),
      AUDIT_KEY: randomBytes(32).toString('base64url'),
      // A fresh receipt-signing key per run; the tests verify receipts against its JWKS.
      SIGNING_KEYS: newKeySetText(),
    }),
  ]);
  const ready = approval.logs().findLast((line) => line.includes('"msg":"ready"'));
  const httpUrl = ready ? (JSON.parse(ready).http_url as string | undefined) : undefined;
  onCommand = async (command) => {
    if (command !== 'crash-nats') return;
    await nats.crash();
    await nats.restart();
    process.stdout.write(`${JSON.stringify({ nats: 'restarted' })}\n`);
  };
  const users = Object.fromEntries(['ops', ...auth.identities()].map((who) => [who, loginOf(who)]));
  process.stdout.write(`${JSON.stringify({ nats_url: nats.url, http_url: httpUrl ?? null, users })}\n`);
} catch (err) {
  process.stderr.write(`start-system: ${(err as Error).stack ?? String(err)}\n`);
  await shutdown(1);
}
