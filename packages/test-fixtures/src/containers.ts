import { existsSync } from 'node:fs';

/**
 * Testcontainers are used when asked for (COUNTERSIGN_TESTCONTAINERS=1) and a Docker engine is
 * reachable; otherwise the harness starts local binaries. Asking without an engine is an error,
 * not a silent fallback, so a CI configured for containers never tests something else.
 */
export function wantContainers(): boolean {
  const asked = process.env.COUNTERSIGN_TESTCONTAINERS === '1';
  if (!asked) return false;
  const socket = process.env.DOCKER_HOST ?? '/var/run/docker.sock';
  if (!process.env.DOCKER_HOST && !existsSync(socket)) {
    throw new Error(
      'COUNTERSIGN_TESTCONTAINERS=1 but no Docker engine is reachable (no DOCKER_HOST, no docker.sock)',
    );
  }
  return true;
}

export interface ContainerHandle {
  url: string;
  stop(): Promise<void>;
}

export async function startPostgresContainer(): Promise<ContainerHandle> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:17-alpine')
    .withUsername('postgres')
    .withPassword('postgres')
    .withDatabase('postgres')
    .start();
  return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
}

export async function startNatsContainer(): Promise<ContainerHandle> {
  const { NatsContainer } = await import('@testcontainers/nats');
  const container = await new NatsContainer('nats:2.12-alpine').withJetStream().start();
  const opts = container.getConnectionOptions();
  const servers = Array.isArray(opts.servers) ? opts.servers[0] : opts.servers;
  return { url: `nats://${servers}`, stop: async () => void (await container.stop()) };
}
