/**
 * The whole system for fault runs: a private PostgreSQL and nats-server that this file may
 * crash, a fault proxy in front of each (the services connect through them, the test's own
 * connections go straight), the three services as processes, an SMTP sink and a webhook
 * receiver for the notifier. Everything stops after the test file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import {
  createDatabase,
  type FaultProxy,
  startFaultProxy,
  startMailSink,
  startNatsServer,
  startPostgres,
} from '@countersign/devinfra';
import { onFileEnd, type ServiceProcess, spawnService, waitUntil } from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { stringify } from 'yaml';
import { testEnv } from '../../services/notifier/test/helpers/notifier.js';
import { startReceiver } from '../../services/notifier/test/helpers/receiver.js';
import { FAST_APPROVAL_ENV, httpUrlOf } from '../support.js';

/** Who gets mail: the finance approvers and dave, the requester of every load request. */
const PEOPLE = {
  people: {
    alice: { email: 'alice@example.com' },
    frank: { email: 'frank@example.com' },
    dave: { email: 'dave@example.com' },
  },
  roles: { finance: ['alice', 'frank'] },
};

export async function startFaultSystem(label: string) {
  // Durable: the crash scenarios rely on what PostgreSQL acknowledged surviving a SIGKILL.
  const pgServer = await startPostgres({ durable: true });
  onFileEnd(pgServer.stop);
  const nats = await startNatsServer();
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
  const mail = await startMailSink();
  const hooks = await startReceiver();
  onFileEnd(async () => {
    await Promise.all([mail.stop(), hooks.close()]);
  });

  const proxiedDb = new URL(dbUrl);
  proxiedDb.host = pgProxy.address;
  const env = { NATS_URL: `nats://${natsProxy.address}`, DATABASE_URL: proxiedDb.toString() };
  const reviewSecret = randomBytes(32).toString('hex');
  const channelsFile = join(mkdtempSync(join(tmpdir(), 'countersign-faults-')), 'channels.yaml');
  writeFileSync(
    channelsFile,
    stringify({
      ...PEOPLE,
      channels: [
        { name: 'mail', type: 'email', from: 'countersign@example.com', requester: true },
        { name: 'hook', type: 'webhook', url: hooks.url, secret_env: 'WEBHOOK_SECRET' },
      ],
    }),
  );

  const policy = await spawnService('policy', { env });
  const [approval, notifier] = await Promise.all([
    spawnService('approval', {
      env: {
        ...env,
        ...FAST_APPROVAL_ENV,
        HTTP_PORT: '0',
        REVIEW_LINK_SECRET: reviewSecret,
        HTTP_READY_TIMEOUT_MS: '1000',
        POLICY_TIMEOUT_MS: '2000',
        OUTBOX_PUBLISH_TIMEOUT_MS: '2000',
      },
    }),
    spawnService('notifier', {
      env: testEnv({ url: env.DATABASE_URL, name: dbName }, env.NATS_URL, {
        SMTP_URL: mail.url,
        REVIEW_LINK_SECRET: reviewSecret,
        NOTIFIER_CONFIG: channelsFile,
        NOTIFIER_RETRY_SCHEDULE: '0,200ms,1s,2s',
        NOTIFIER_LEASE: '4s',
        SMTP_TIMEOUT: '2s',
        WEBHOOK_TIMEOUT: '2s',
        LOG_LEVEL: 'info',
      }),
    }),
  ]);

  // The test's own view, never through a proxy: it must see the truth while services cannot.
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  pool.on('error', () => {});
  onFileEnd(async () => {
    await nc.drain().catch(() => {});
    await pool.end();
  });

  const approvalUrl = () => httpUrlOf(approval);

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
    mail,
    hooks,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    pool,
    approvalUrl,
  };
}

export type FaultSystem = Awaited<ReturnType<typeof startFaultSystem>>;

/** The `webhook-id` of every webhook request received so far. */
export function webhookIds(sys: FaultSystem): string[] {
  return sys.hooks.requests.map((r) => String(r.headers['webhook-id'] ?? ''));
}

let probes = 0;

/**
 * Waits until the system works end to end again and returns how long that took since `since`:
 * the approval service is ready (Postgres, NATS and the policy answer its /readyz), and a fresh
 * request goes all the way through: submitted, auto-approved by the policy, its decided event
 * relayed, and its webhook sent by the notifier. The probe is returned so it is checked too.
 */
export async function waitRecovered(
  sys: FaultSystem,
  since: number,
  timeoutMs = 30_000,
): Promise<{ ms: number; probe: string }> {
  probes++;
  const probe = `probe-${sys.label}-${probes}`;
  const request = {
    action_id: probe,
    action_type: 'payment',
    description: 'recovery probe',
    requested_by: 'dave',
    context: { amount: 1 },
  };
  let submitted = false;
  await waitUntil(
    async () => {
      const url = sys.approvalUrl();
      const ready = url ? (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status : 0;
      if (ready !== 200) throw new Error(`approval /readyz answered ${ready}`);
      if (!submitted) {
        await callEndpoint(sys.nc, 'submit', request, { timeout: 2000 });
        submitted = true;
      }
      const webhooked = sys.hooks.requests.some((r) => r.body.includes(`"action_id":"${probe}"`));
      if (!webhooked) throw new Error('the probe has no webhook yet');
      return true;
    },
    { timeout: timeoutMs, interval: 100, message: `${sys.label} to recover` },
  );
  return { ms: Date.now() - since, probe };
}
