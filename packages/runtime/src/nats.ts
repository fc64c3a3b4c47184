import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from './logger.js';
import { redactUrl } from './logger.js';
import type { NatsAuthOptions } from './nats-credentials.js';

export interface NatsOptions {
  url: string;
  name: string;
  /** The authenticator from `natsAuthOptions` (none on a server without authentication). */
  auth?: NatsAuthOptions;
  /** Where replies arrive; default `_INBOX`. A directory identity may read only its own. */
  inboxPrefix?: string;
  logger: Logger;
}

/**
 * Connects for a long-running service: retries the first connect and reconnects forever,
 * because a service that gives up on NATS is a service that silently stops working.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const servers = options.url.split(',').map((s) => s.trim());
  const nc = await connect({
    servers,
    name: options.name,
    ...options.auth,
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 10_000,
    // Without this, every request and JetStream publish builds two Error objects up front (with
    // their stack traces) in case it later times out: a tenth of the approval service's CPU under
    // load. Timeouts still fail with a TimeoutError, only without the caller's stack.
    noAsyncTraces: true,
  });
  options.logger.info({ servers: servers.map(redactUrl), server: nc.info?.server_name }, 'nats connected');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        options.logger.warn({ status: s.type }, 'nats connection status');
      }
    }
  })().catch(() => {});
  return nc;
}
