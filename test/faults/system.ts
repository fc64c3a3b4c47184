/**
 * The whole system for fault runs: a private PostgreSQL and nats-server that this file may
 * crash, a fault proxy in front of each (the services connect through them, the test's own
 * connections go straight), the three services as processes, an SMTP sink and a webhook
 * receiver for the notifier. Everything stops after the test file. The pieces are exported for
 * other deployments of the same system (cluster.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subjects } from '@countersign/contracts';
import {
  createDatabase,
  type FaultProxy,
  type MailSink,
  NatsAuth,
  startFaultProxy,
  startMailSink,
  startNatsServer,
  startPostgres,
} from '@countersign/devinfra';
import {
  authenticated,
  call as commandAs,
  directoryOf,
  onFileEnd,
  type ServiceProcess,
  spawnService,
  TEST_DIRECTORY_FILE,
  waitUntil,
} from '@countersign/test-fixtures';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import pg from 'pg';
import { stringify } from 'yaml';
import { testEnv } from '../../services/notifier/test/helpers/notifier.js';
import {
  type ReceivedRequest,
  type Receiver,
  startReceiver,
} from '../../services/notifier/test/helpers/receiver.js';
import { alive, FAST_APPROVAL_ENV, httpUrlOf } from '../support.js';

/** What a fault scenario drives and checks: one system of services, however it is deployed. */
export interface FaultTarget {
  label: string;
  /** Straight to PostgreSQL and NATS, never through a proxy or a node that is being killed. */
  pool: pg.Pool;
  nc: NatsConnection;
  js: JetStreamClient;
  services: ServiceProcess[];
  mail: MailSink;
  hooks: WebhookSink;
  /** The HTTP address of an approval service that is running. */
  approvalUrl(): string | undefined;
  /** The servers' state, for the report of a failed run. */
  servers(): string;
}

/**
 * The webhook receiver of a fault run. It accepts (204) unless told to refuse for a while: then
 * it answers 503, as a receiver being redeployed does, and the notifier must retry.
 */
export interface WebhookSink extends Receiver {
  /** The requests it accepted: refused ones were not received, and are not counted as arrivals. */
  accepted(): ReceivedRequest[];
  /** How many requests it refused. */
  refused(): number;
  /** Refuse every request from now until {@link accept}. */
  refuse(): void;
  accept(): void;
}

export interface Sinks {
  mail: MailSink;
  hooks: WebhookSink;
  /** Routes every event to the webhook (`hook`), and approvers' and requesters' emails (`mail`). */
  channelsFile: string;
}

/** The SMTP sink and webhook receiver the notifier writes to, and the channels file for them. */
export async function startSinks(): Promise<Sinks> {
  const mail = await startMailSink();
  let refusing = false;
  const refused = new Set<number>();
  const receiver = await startReceiver((n) => {
    if (!refusing) return { status: 204 };
    refused.add(n);
    return { status: 503 };
  });
  const hooks: WebhookSink = {
    ...receiver,
    accepted: () => receiver.requests.filter((_, i) => !refused.has(i + 1)),
    refused: () => refused.size,
    refuse: () => {
      refusing = true;
    },
    accept: () => {
      refusing = false;
    },
  };
  onFileEnd(async () => {
    await Promise.all([mail.stop(), hooks.close()]);
  });
  const channelsFile = join(mkdtempSync(join(tmpdir(), 'countersign-faults-')), 'channels.yaml');
  writeFileSync(
    channelsFile,
    // Who gets mail (the approvers, the requester) is the test directory's, as for every service.
    stringify({
      channels: [
        { name: 'mail', type: 'email', from: 'countersign@example.com', requester: true },
        { name: 'hook', type: 'webhook', url: hooks.url, secret_env: 'WEBHOOK_SECRET' },
      ],
    }),
  );
  return { mail, hooks, channelsFile };
}

/** Approval service settings for fault runs: HTTP on (for /readyz), short timeouts. */
export function approvalEnv(reviewSecret: string): Record<string, string> {
  return {
    ...FAST_APPROVAL_ENV,
    HTTP_PORT: '0',
    REVIEW_LINK_SECRET: reviewSecret,
    HTTP_READY_TIMEOUT: '1s',
    POLICY_TIMEOUT: '2s',
    OUTBOX_PUBLISH_TIMEOUT: '2s',
  };
}

/** Notifier settings for fault runs: quick retries and a short lease, so runs settle in seconds. */
export function notifierEnv(
  db: { url: string; name: string },
  natsUrl: string,
  sinks: Sinks,
  reviewSecret: string,
): Record<string, string> {
  return testEnv(db, natsUrl, {
    SMTP_URL: sinks.mail.url,
    REVIEW_LINK_SECRET: reviewSecret,
    NOTIFIER_CONFIG: sinks.channelsFile,
    NOTIFIER_RETRY_SCHEDULE: '0,200ms,1s,2s',
    NOTIFIER_LEASE: '4s',
    SMTP_TIMEOUT: '2s',
    WEBHOOK_TIMEOUT: '2s',
    LOG_LEVEL: 'info',
  });
}

/** A pid and whether it still runs, for the report of a failed run. */
export const processState = (pid: number) => `${pid} ${alive(pid) ? 'running' : 'gone'}`;

export async function startFaultSystem(label: string) {
  // Durable: the crash scenarios rely on what PostgreSQL acknowledged surviving a SIGKILL.
  const pgServer = await startPostgres({ durable: true });
  onFileEnd(pgServer.stop);
  // Authentication on, as deployed: the users of the test directory, each service its own.
  const auth = NatsAuth.of(await directoryOf(TEST_DIRECTORY_FILE));
  const nats = await startNatsServer({ extraConfig: auth.config() });
  onFileEnd(nats.stop);
  const dbName = `faults_${label.replace(/[^a-z0-9]+/g, '_')}_${randomBytes(3).toString('hex')}`;
  const dbUrl = await createDatabase(pgServer.url, dbName);
  const [pgProxy, natsProxy] = await Promise.all([
    startFaultProxy({ targetPort: pgServer.port }),
    startFaultProxy({ targetPort: nats.port }),
  ]);
  onFileEnd(async () => {
    await Promise.all([pgProxy.stop(), natsProxy.stop()]);
  });
  const sinks = await startSinks();

  const proxiedDb = new URL(dbUrl);
  proxiedDb.host = pgProxy.address;
  const env = { NATS_URL: `nats://${natsProxy.address}`, DATABASE_URL: proxiedDb.toString() };
  const reviewSecret = randomBytes(32).toString('hex');
  // The services reach nats-server through the proxy, with their own credentials.
  const proxied = authenticated(env.NATS_URL, auth);
  const policy = await spawnService('policy', { env, nats: proxied });
  const [approval, notifier] = await Promise.all([
    spawnService('approval', { env: { ...env, ...approvalEnv(reviewSecret) }, nats: proxied }),
    spawnService('notifier', {
      env: notifierEnv({ url: env.DATABASE_URL, name: dbName }, env.NATS_URL, sinks, reviewSecret),
      nats: proxied,
    }),
  ]);

  // The test's own view, never through a proxy: it must see the truth while services cannot.
  const nc = await authenticated(nats.url, auth, nats).connect('ops', {
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  pool.on('error', () => {});
  onFileEnd(async () => {
    await nc.drain().catch(() => {});
    await pool.end();
  });

  return {
    label,
    pg: pgServer,
    nats,
    pgProxy,
    natsProxy,
    proxies: [pgProxy, natsProxy] as FaultProxy[],
    policy,
    approval,
    notifier,
    services: [policy, approval, notifier] as ServiceProcess[],
    mail: sinks.mail,
    hooks: sinks.hooks,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    pool,
    approvalUrl: () => httpUrlOf(approval),
    servers: () => `postgres ${processState(pgServer.pid())}, nats-server ${processState(nats.pid())}`,
  };
}

export type FaultSystem = Awaited<ReturnType<typeof startFaultSystem>>;

/** The `webhook-id` of every webhook request accepted so far. */
export function webhookIds(sys: FaultTarget): string[] {
  return sys.hooks.accepted().map((r) => String(r.headers['webhook-id'] ?? ''));
}

let probes = 0;

/**
 * Waits until the system works end to end again and returns how long that took since `since`:
 * the approval service is ready (Postgres, NATS and the policy answer its /readyz), and two fresh
 * requests go all the way through, one by approval.submit and one by the intake stream: recorded,
 * auto-approved by the policy, their decided events relayed, and their webhooks sent by the
 * notifier. The probes are returned so that they are checked too.
 */
export async function waitRecovered(
  sys: FaultTarget,
  since: number,
  timeoutMs = 30_000,
): Promise<{ ms: number; probes: string[] }> {
  probes++;
  const request = (via: string) => ({
    action_id: `probe-${sys.label}-${probes}-${via}`,
    action_type: 'payment',
    description: `recovery probe (${via})`,
    requested_by: 'dave',
    context: { amount: 1 },
  });
  const sync = request('submit');
  const intake = request('intake');
  let submitted = false;
  let published = false;
  await waitUntil(
    async () => {
      const url = sys.approvalUrl();
      const ready = url ? (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status : 0;
      if (ready !== 200) throw new Error(`approval /readyz answered ${ready}`);
      if (!published) {
        await sys.js.publish(Subjects.requestedBy(intake.requested_by), JSON.stringify(intake), {
          msgID: intake.action_id,
          timeout: 2000,
        });
        published = true;
      }
      if (!submitted) {
        await commandAs(sys.nc, 'submit', sync, { timeout: 2000 });
        submitted = true;
      }
      const waiting = [sync, intake].filter(
        (p) => !sys.hooks.accepted().some((r) => r.body.includes(`"action_id":"${p.action_id}"`)),
      );
      if (waiting.length > 0) {
        throw new Error(
          `not through yet: ${await stages(
            sys,
            waiting.map((p) => p.action_id),
          )}`,
        );
      }
      return true;
    },
    { timeout: timeoutMs, interval: 100, message: `${sys.label} to recover` },
  );
  return { ms: Date.now() - since, probes: [sync.action_id, intake.action_id] };
}

/** How far each request got (recorded, relayed to the stream, webhook sent): says where a system is stuck. */
async function stages(sys: FaultTarget, ids: string[]): Promise<string> {
  const { rows } = await sys.pool.query<{ action_id: string; status: string; published: boolean }>(
    `select a.action_id, a.status, bool_and(o.published_at is not null) as published
       from approval.approvals a left join approval.outbox o on o.action_id = a.action_id
      where a.action_id = any($1::text[]) group by a.action_id, a.status`,
    [ids],
  );
  return ids
    .map((id) => {
      const row = rows.find((r) => r.action_id === id);
      if (!row) return `${id} not recorded`;
      return `${id} ${row.status}, ${row.published ? 'relayed, no webhook' : 'not relayed'}`;
    })
    .join('; ');
}
