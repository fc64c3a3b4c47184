/**
 * The dev run: starts (or reuses) the infrastructure and the services, prints where everything
 * is, and stops it all cleanly on Ctrl-C.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startInfra } from '@countersign/devinfra';

const cacheRoot = process.env.COUNTERSIGN_CACHE ?? join(homedir(), '.cache', 'countersign');
const natsPort = Number(process.env.NATS_PORT ?? 4222);

const infra = await startInfra({
  postgres: { dataDir: join(cacheRoot, 'dev', 'pgdata'), port: Number(process.env.PG_PORT ?? 5433) },
  nats: { port: natsPort, storeDir: join(cacheRoot, 'dev', 'jetstream') },
});

console.log(`
Countersign is running.
  NATS        ${infra.natsUrl}
  PostgreSQL  ${infra.databaseUrl}
Press Ctrl-C to stop.
`);

let stopping = false;
const stop = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(130);
  stopping = true;
  console.log(`\n${signal}: stopping...`);
  await infra.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
