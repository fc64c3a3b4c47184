/**
 * The production topology in small: a three-node NATS cluster on loopback with R3 streams, and
 * two replicas of each service, all on one PostgreSQL. The test connects to every node, so it
 * keeps its view when one goes.
 */
import { randomBytes } from 'node:crypto';
import { Streams } from '@countersign/contracts';
import { NatsAuth, type NatsServerHandle, startNatsCluster } from '@countersign/devinfra';
import {
  authenticated,
  directoryOf,
  onFileEnd,
  register,
  type ServiceProcess,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  waitUntil,
} from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { httpUrlOf } from '../support.js';
import { approvalEnv, type FaultTarget, notifierEnv, processState, startSinks } from './system.js';

export async function startClusterSystem(label: string) {
  // Authentication on, as deployed: the users of the test directory on every node.
  const auth = NatsAuth.of(await directoryOf(TEST_DIRECTORY_FILE));
  const cluster = await startNatsCluster(3, 'countersign', auth.config());
  onFileEnd(cluster.stop);
  // Registered by URL: every service spawned on cluster.url connects as its own user.
  const nats = register(authenticated(cluster.url, auth));
  const db = await useTestDatabase(label);
  const sinks = await startSinks();

  // The test's own connection knows every node; JetStream is usable once a meta leader is elected.
  const nc = await nats.connect('ops', { maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  // No API check at creation: the meta leader may not be elected yet; the wait below is that check.
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await waitUntil(() => jsm.getAccountInfo(), { timeout: 30_000, message: 'the JetStream meta leader' });
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => {});
  onFileEnd(async () => {
    await nc.drain().catch(() => {});
    await pool.end();
  });

  const env = { NATS_URL: cluster.url, DATABASE_URL: db.url };
  const reviewSecret = randomBytes(32).toString('hex');
  const twice = async (start: () => Promise<ServiceProcess>) => [await start(), await start()];
  const policy = await twice(() => spawnService('policy', { env }));
  const approval = await twice(() =>
    spawnService('approval', { env: { ...env, ...approvalEnv(reviewSecret), NATS_STREAM_REPLICAS: '3' } }),
  );
  const notifierSettings = notifierEnv(db, cluster.url, sinks, reviewSecret);
  const notifier = await twice(() => spawnService('notifier', { env: notifierSettings }));
  const running = (s: ServiceProcess) =>
    s.process().child.exitCode === null && s.process().child.signalCode === null;

  const target: FaultTarget = {
    label,
    pool,
    nc,
    js: jetstream(nc),
    services: [...policy, ...approval, ...notifier],
    mail: sinks.mail,
    hooks: sinks.hooks,
    approvalUrl: () => {
      const live = approval.find(running);
      return live ? httpUrlOf(live) : undefined;
    },
    servers: () => cluster.nodes.map((n, i) => `n${i + 1} ${processState(n.pid())}`).join(', '),
  };
  /** The node leading the intake stream's replicas, and its name (a leader election follows its loss). */
  const intakeLeader = async () => {
    const name = (await jsm.streams.info(Streams.requests)).cluster?.leader ?? 'n1';
    return { name, node: cluster.nodes[Number(name.slice(1)) - 1] ?? (cluster.nodes[0] as NatsServerHandle) };
  };
  /**
   * Waits until the streams and the services' consumers have leaders again, none of them on
   * `lost`: NATS's own failover (a raft election per stream and consumer), before which no
   * service can read or write them.
   */
  const reelected = (lost: string) =>
    waitUntil(
      async () => {
        const leaders = await Promise.all([
          jsm.streams.info(Streams.requests).then((i) => i.cluster?.leader),
          jsm.streams.info(Streams.events).then((i) => i.cluster?.leader),
          jsm.consumers.info(Streams.requests, 'approval-intake').then((i) => i.cluster?.leader),
          jsm.consumers.info(Streams.events, 'notifier').then((i) => i.cluster?.leader),
        ]);
        return leaders.every((l) => l !== undefined && l !== lost);
      },
      { timeout: 30_000, interval: 200, message: 'new stream and consumer leaders' },
    );
  return {
    ...target,
    cluster,
    jsm,
    policy,
    approval,
    notifier,
    notifierEnv: notifierSettings,
    nats,
    intakeLeader,
    reelected,
  };
}
