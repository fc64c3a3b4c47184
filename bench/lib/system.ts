/**
 * Starts Countersign for a benchmark the way it runs in production, on this machine: a durable
 * PostgreSQL (fsync on), a nats-server with JetStream, and the services as real processes
 * (policy, approval, notifier) from the compiled build, each with its production log level. Everything is registered
 * with the caller's Cleanup before it can fail.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Streams } from '@countersign/contracts';
import {
  createDatabase,
  freePort,
  imageNodeOptions,
  NatsAuth,
  type NatsServerHandle,
  type PostgresHandle,
  REPO_ROOT,
  type ServiceProcess,
  startNatsServer,
  startPostgres,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { Directory } from '../../packages/runtime/src/directory/index.js';
import { newKeySetText } from '../../packages/runtime/src/signing-keys.js';
import { INTAKE_CONSUMER } from '../../services/approval/src/intake.js';
import { buildBundle, DEFAULT_POLICY_DIR } from '../../services/policy/src/index.js';
import type { Cleanup } from './cleanup.js';
import type { Watched } from './procstat.js';

/** Service logs kept in memory per process: enough to explain a failure, not millions of lines. */
const KEEP_LOG_LINES = 2_000;

export interface InfraHandles {
  postgres: PostgresHandle;
  nats: NatsServerHandle;
  natsUrl: string;
  /** The approval service's database (it migrates it at start). */
  databaseUrl: string;
  /**
   * The notifier's own database, so commits and statements counted in the approval service's
   * database are the approval path's alone.
   */
  notifierDatabaseUrl: string;
  /** nats-server's monitoring endpoint (`/varz`: message counters). */
  monitorUrl: string;
}

/** The directory the benchmarked services read: the sample one. */
/** The requesters of the request mix and the HTTP token's identity (bench/directory.yaml). */
const BENCH_DIRECTORY = join(REPO_ROOT, 'bench/directory.yaml');
let natsAuth: NatsAuth | undefined;

/**
 * The NATS users of every nats-server this benchmark starts (authentication on, as deployed):
 * each service connects as its own user, the load generator as ops.
 */
export function benchNatsAuth(): NatsAuth {
  natsAuth ??= NatsAuth.of(Directory.parse(readFileSync(BENCH_DIRECTORY, 'utf8')));
  return natsAuth;
}

/**
 * PostgreSQL with fsync and synchronous commit on (devinfra's default) and pg_stat_statements
 * loaded, so a benchmark can count statements per approval; and nats-server with monitoring.
 */
export async function startBenchInfra(cleanup: Cleanup): Promise<InfraHandles> {
  const monitorPort = await freePort();
  const [postgres, nats] = await Promise.all([
    startPostgres({
      durable: true,
      settings: {
        shared_preload_libraries: 'pg_stat_statements',
        'pg_stat_statements.track': 'top',
        'pg_stat_statements.track_planning': 'on',
      },
    }),
    startNatsServer({ monitorPort, extraConfig: benchNatsAuth().config() }),
  ]);
  cleanup.add('postgres', () => postgres.stop());
  cleanup.add('nats-server', () => nats.stop());
  const databaseUrl = await createDatabase(postgres.url, 'countersign');
  const notifierDatabaseUrl = await createDatabase(postgres.url, 'countersign_notifier');
  await sql(databaseUrl, 'create extension if not exists pg_stat_statements');
  return {
    postgres,
    nats,
    natsUrl: nats.url,
    databaseUrl,
    notifierDatabaseUrl,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
  };
}

/** Runs statements on a short-lived connection; returns the last result's rows. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  ...statements: string[]
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let rows: R[] = [];
    for (const statement of statements) rows = (await client.query<R>(statement)).rows;
    return rows;
  } finally {
    await client.end();
  }
}

/** Connects the benchmark's own NATS client. */
export async function connectBench(
  natsUrl: string,
  cleanup: Cleanup,
  name = 'bench',
): Promise<NatsConnection> {
  // No async stack traces: they cost an Error (with its stack) per request, and the load
  // generator shares the CPU with the system it measures.
  const ops = benchNatsAuth().login('ops');
  const nc = await connect({
    servers: natsUrl,
    name,
    noAsyncTraces: true,
    user: ops.user,
    pass: ops.password,
  });
  cleanup.add(`nats connection ${name}`, () => nc.drain());
  return nc;
}

let bundlePath: string | undefined;

/**
 * Builds the policy bundle once per benchmark run, so each policy replica loads the same file
 * instead of running `opa build` at every start.
 */
export async function policyBundleFile(cleanup: Cleanup): Promise<string> {
  if (bundlePath) return bundlePath;
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-'));
  const path = join(dir, 'bundle.tar.gz');
  writeFileSync(path, (await buildBundle({ dir: DEFAULT_POLICY_DIR, opaBin: tool('opa') })).bytes);
  bundlePath = path;
  cleanup.add('policy bundle', async () => {
    rmSync(dir, { recursive: true, force: true });
    bundlePath = undefined;
  });
  return path;
}

async function service(
  cleanup: Cleanup,
  name: 'policy' | 'approval' | 'notifier',
  env: Record<string, string>,
): Promise<ServiceProcess> {
  const { NATS_URL: _url, ...credentials } = benchNatsAuth().env(name, '');
  const proc = await startServiceProcess(name, {
    // The compiled build (scripts/bench.sh runs `pnpm build` first), resolving the workspace
    // packages to their dist/ as the image does: what runs in production is what is measured.
    command: {
      file: process.execPath,
      args: [
        // The image's NODE_OPTIONS: its dist/ condition and heap limits.
        ...imageNodeOptions(),
        // BENCH_CPU_PROF=<dir>: each service writes a V8 CPU profile to <dir>/<service> when it
        // stops; the results summarise them (bench/lib/cpu-profile.ts).
        ...(process.env.BENCH_CPU_PROF
          ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, name)}`]
          : []),
        join(REPO_ROOT, `services/${name}/dist/main.js`),
      ],
      cwd: REPO_ROOT,
    },
    env: { DIRECTORY_FILE: BENCH_DIRECTORY, ...credentials, ...env },
    maxLogLines: KEEP_LOG_LINES,
    timeout: 60_000,
    // The figures after it would be a stall's, not the system's: say so, with why it died.
    onUnexpectedExit: (code, lastLines) =>
      console.error(
        `bench: the ${name} service exited (code ${code}) mid-scenario; its last lines:\n${lastLines.join('\n')}`,
      ),
  });
  cleanup.add(`${name} service`, () => proc.stop());
  return proc;
}

export async function startPolicy(cleanup: Cleanup, natsUrl: string): Promise<ServiceProcess> {
  return service(cleanup, 'policy', {
    NATS_URL: natsUrl,
    POLICY_BUNDLE: await policyBundleFile(cleanup),
    POLICY_BUCKET: '',
    OPA_BIN: tool('opa'),
  });
}

export interface ApprovalHttp {
  url: string;
  token: string;
}

/** The approval service; with `http`, its HTTP API too (a bearer token for identity "bench"). */
export async function startApproval(
  cleanup: Cleanup,
  infra: { databaseUrl: string; natsUrl: string },
  options: { env?: Record<string, string>; http?: boolean } = {},
): Promise<{ proc: ServiceProcess; http?: ApprovalHttp }> {
  const env: Record<string, string> = {
    NATS_URL: infra.natsUrl,
    DATABASE_URL: infra.databaseUrl,
    AUDIT_KEY: randomBytes(32).toString('hex'),
    // A fresh key per run: receipts are signed as in production (one Ed25519 signature each).
    SIGNING_KEYS: newKeySetText(),
    ...options.env,
  };
  let http: ApprovalHttp | undefined;
  if (options.http) {
    const port = await freePort();
    const token = randomBytes(24).toString('hex');
    Object.assign(env, {
      HTTP_PORT: String(port),
      REVIEW_LINK_SECRET: randomBytes(32).toString('hex'),
      API_TOKENS: `${token}:bench`,
    });
    http = { url: `http://127.0.0.1:${port}`, token };
  }
  const proc = await service(cleanup, 'approval', env);
  return http ? { proc, http } : { proc };
}

/** Counts what the notifier's webhook channel delivers, answering 204 at once. */
export interface WebhookReceiver {
  url: string;
  received(): number;
}

async function startWebhookReceiver(cleanup: Cleanup): Promise<WebhookReceiver> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanup.add('webhook receiver', () => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${port}/countersign`, received: () => received };
}

/**
 * The notifier with one cheap channel, the audit webhook of channels.example.yaml (decided
 * approvals of high or critical risk, signed) to a receiver in this process: it records every
 * event as in production and sends a few percent of them, so it is not what limits the
 * approval path.
 */
export async function startNotifier(
  cleanup: Cleanup,
  infra: { notifierDatabaseUrl: string; natsUrl: string },
): Promise<{ proc: ServiceProcess; webhook: WebhookReceiver }> {
  const webhook = await startWebhookReceiver(cleanup);
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-notifier-'));
  cleanup.add('notifier channels file', async () => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'channels.json');
  writeFileSync(
    config,
    JSON.stringify({
      channels: [
        {
          name: 'bench-hook',
          type: 'webhook',
          url: webhook.url,
          secret_env: 'BENCH_WEBHOOK_SECRET',
          filter: { events: ['approval.decided'], risks: ['high', 'critical'] },
        },
      ],
    }),
  );
  const proc = await service(cleanup, 'notifier', {
    NATS_URL: infra.natsUrl,
    DATABASE_URL: infra.notifierDatabaseUrl,
    NOTIFIER_CONFIG: config,
    BENCH_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  return { proc, webhook };
}

/** The processes a benchmark measures: services by name, nats-server, PostgreSQL as a tree. */
export function watchedProcesses(
  infra: InfraHandles,
  services: Record<string, ServiceProcess | undefined>,
): Watched[] {
  const watched: Watched[] = [];
  for (const [name, proc] of Object.entries(services)) {
    if (proc) watched.push({ name, pid: () => proc.process().pid });
  }
  watched.push({ name: 'nats-server', pid: () => infra.nats.pid() });
  watched.push({ name: 'postgres', pid: () => infra.postgres.pid(), tree: true });
  return watched;
}

export interface System {
  infra: InfraHandles;
  nc: NatsConnection;
  policy: ServiceProcess;
  approval: ServiceProcess;
  http?: ApprovalHttp;
  notifier?: ServiceProcess;
  webhook?: WebhookReceiver;
  /** Every process to measure: the services, nats-server, PostgreSQL. */
  watched: Watched[];
}

/**
 * The whole system as the benchmarks run it: infrastructure, one policy replica, the approval
 * service (with its HTTP API when asked), the notifier unless turned off, and a NATS client.
 */
export async function startSystem(
  cleanup: Cleanup,
  options: { http?: boolean; notifier?: boolean; approvalEnv?: Record<string, string> } = {},
): Promise<System> {
  const infra = await startBenchInfra(cleanup);
  const nc = await connectBench(infra.natsUrl, cleanup);
  const policy = await startPolicy(cleanup, infra.natsUrl);
  const approval = await startApproval(cleanup, infra, {
    http: options.http ?? false,
    ...(options.approvalEnv ? { env: options.approvalEnv } : {}),
  });
  const notifier = options.notifier === false ? undefined : await startNotifier(cleanup, infra);
  return {
    infra,
    nc,
    policy,
    approval: approval.proc,
    ...(approval.http ? { http: approval.http } : {}),
    ...(notifier ? { notifier: notifier.proc, webhook: notifier.webhook } : {}),
    watched: watchedProcesses(infra, { policy, approval: approval.proc, notifier: notifier?.proc }),
  };
}

/**
 * Waits (bounded) until the intake and the notifier have nothing left to do, so that work
 * queued by one measurement does not run during the next.
 */
export async function settle(nc: NatsConnection, timeoutMs = 120_000): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const consumers: [string, string][] = [
    [Streams.requests, INTAKE_CONSUMER],
    // The notifier's default durable name (NOTIFIER_CONSUMER).
    [Streams.events, 'notifier'],
  ];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let busy = false;
    for (const [stream, name] of consumers) {
      const info = await jsm.consumers.info(stream, name).catch(() => undefined);
      if (info && info.num_pending + info.num_ack_pending > 0) busy = true;
    }
    if (!busy) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}
