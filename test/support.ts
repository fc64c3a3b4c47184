/**
 * End-to-end harness: a fresh database, a private nats-server, and the real services as child
 * processes (so tests can SIGKILL them), plus a client connection and a pool for assertions.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApprovalRequestInput } from '@countersign/contracts';
import { Streams, Subjects } from '@countersign/contracts';
import { REPO_ROOT, SERVICE_USERS, type ServiceUser } from '@countersign/devinfra';
import {
  call,
  type ServiceProcess,
  spawnService,
  useTestDatabase,
  useTestNats,
} from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import pg from 'pg';
import { afterAll } from 'vitest';
import { stringify } from 'yaml';

/** Settings that make retries and sweeps fast enough for a test, not for production. */
export const FAST_APPROVAL_ENV = {
  INTAKE_ACK_WAIT: '2s',
  INTAKE_RETRY_BASE: '100ms',
  INTAKE_RETRY_MAX: '1s',
  EXPIRY_INTERVAL: '300ms',
  OUTBOX_POLL_INTERVAL: '200ms',
};

export async function startSystem(
  label: string,
  approvalEnv: Record<string, string> = {},
  /** Variables for both services (and kept in `env` for the ones a test spawns itself). */
  serviceEnv: Record<string, string> = {},
) {
  const [db, nats] = await Promise.all([useTestDatabase(label), useTestNats()]);
  const env = { NATS_URL: nats.url, DATABASE_URL: db.url, ...serviceEnv };
  const [policy, approval] = await Promise.all([
    spawnService('policy', { env }),
    spawnService('approval', { env: { ...env, ...FAST_APPROVAL_ENV, ...approvalEnv } }),
  ]);
  const nc = await nats.connect();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => {});
  afterAll(async () => {
    await nc.drain();
    await pool.end();
  });
  return { db, nats, env, policy, approval, nc, js: jetstream(nc), jsm: await jetstreamManager(nc), pool };
}

export type System = Awaited<ReturnType<typeof startSystem>>;

/** Another approval service process on the same database and NATS (a replica). */
export function spawnApproval(sys: System, approvalEnv: Record<string, string> = {}) {
  return spawnService('approval', { env: { ...sys.env, ...FAST_APPROVAL_ENV, ...approvalEnv } });
}

export { call };

/** Messages per subject on APPROVAL_EVENTS under `filter`. */
export async function eventCounts(
  nc: NatsConnection,
  filter: string = Subjects.decidedAll,
): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(Streams.events, { subjects_filter: filter });
  return info.state.subjects ?? {};
}

export function payment(
  action_id: string,
  amount: number,
  extra: Partial<ApprovalRequestInput> = {},
): ApprovalRequestInput {
  return {
    action_id,
    action_type: 'payment',
    description: `Pay ${amount}`,
    requested_by: 'dave',
    context: { amount },
    ...extra,
  };
}

/** The approval service's HTTP address, from its latest ready line (HTTP_PORT=0 picks a new port on each start). */
export function httpUrlOf(approval: ServiceProcess): string | undefined {
  const ready = approval.logs().findLast((line) => line.includes('"msg":"ready"'));
  return ready ? (JSON.parse(ready).http_url as string | undefined) : undefined;
}

/** Countersign's own NATS users (the services and ops); the directory's people and systems have theirs too. */
export const NATS_ROLES = SERVICE_USERS;
export type NatsRole = ServiceUser;

/**
 * A nats-server of the file's own with authentication on (the users generated from the test
 * directory, fresh passwords), whatever NATS_URL says; `as(who)` is the environment a process
 * needs to connect as that service user or directory identity.
 */
export async function startSecuredNats() {
  const nats = await useTestNats({ own: true });
  const passwords = Object.fromEntries(
    SERVICE_USERS.map((user) => [user, nats.login(user)?.password ?? '']),
  ) as Record<NatsRole, string>;
  return { nats, passwords, as: (who: string) => nats.env(who) };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What a script printed before it exited: stdout as lines, stderr as text. */
export interface ScriptRun {
  code: number | null;
  lines: string[];
  stderr: string;
}

/**
 * Runs a TypeScript entry point of this repository (a service's main.ts, a script) with only
 * `PATH` and `env` as its environment, to its exit; killed after `killAfterMs` (a service that
 * started after all never exits on its own, and the test then fails on its exit code).
 */
export function runScript(
  script: string,
  env: Record<string, string>,
  killAfterMs = 30_000,
): Promise<ScriptRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
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
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, lines: stdout.split('\n').filter(Boolean), stderr });
    }),
  );
}

/**
 * A notifier channels file in a fresh temp folder: one email channel, to the approvers and the
 * requester. Who they are (frank and alice for finance, dave) is the test directory's.
 */
export function writeMailChannels(label: string): string {
  const file = join(mkdtempSync(join(tmpdir(), `countersign-${label}-`)), 'channels.yaml');
  writeFileSync(
    file,
    stringify({
      channels: [{ name: 'mail', type: 'email', from: 'countersign@example.com', requester: true }],
    }),
  );
  return file;
}
