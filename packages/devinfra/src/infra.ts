import { type NatsServerHandle, type NatsServerOptions, startNatsServer } from './nats-server.js';
import { type PostgresHandle, type PostgresOptions, startPostgres } from './postgres.js';

export interface InfraOptions {
  /** Use this database instead of starting one (also read from DATABASE_URL). */
  databaseUrl?: string | undefined;
  /** Use this NATS instead of starting one (also read from NATS_URL). */
  natsUrl?: string | undefined;
  postgres?: PostgresOptions;
  nats?: NatsServerOptions;
}

export interface Infra {
  databaseUrl: string;
  natsUrl: string;
  /** Present when this launcher started the server (absent for env-provided URLs). */
  postgres?: PostgresHandle;
  nats?: NatsServerHandle;
  stop(): Promise<void>;
}

/**
 * Starts what is not given: a private PostgreSQL and a private nats-server with JetStream, in
 * parallel. Stops only what it started. If one fails to start, the other is stopped too.
 */
export async function startInfra(options: InfraOptions = {}): Promise<Infra> {
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL;
  const natsUrl = options.natsUrl ?? process.env.NATS_URL;
  const [pgResult, natsResult] = await Promise.allSettled([
    databaseUrl ? Promise.resolve(undefined) : startPostgres(options.postgres),
    natsUrl ? Promise.resolve(undefined) : startNatsServer(options.nats),
  ]);
  const postgres = pgResult.status === 'fulfilled' ? pgResult.value : undefined;
  const nats = natsResult.status === 'fulfilled' ? natsResult.value : undefined;
  const stop = async () => {
    await Promise.allSettled([postgres?.stop(), nats?.stop()]);
  };
  if (pgResult.status === 'rejected' || natsResult.status === 'rejected') {
    await stop();
    const reasons = [pgResult, natsResult]
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => String(r.reason?.message ?? r.reason));
    throw new Error(`could not start infrastructure:\n${reasons.join('\n')}`);
  }
  return {
    databaseUrl: databaseUrl ?? (postgres as PostgresHandle).url,
    natsUrl: natsUrl ?? (nats as NatsServerHandle).url,
    ...(postgres ? { postgres } : {}),
    ...(nats ? { nats } : {}),
    stop,
  };
}
