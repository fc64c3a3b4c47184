import { inboxPrefixOf } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from './logger.js';
import { redactUrl } from './logger.js';
import { type NatsAuthOptions, type NatsCredentialSettings, natsAuthOptions } from './nats-credentials.js';
import { describeNats, reasonOf, StartupError } from './startup.js';

export interface NatsOptions {
  url: string;
  name: string;
  /** The authenticator from `natsAuthOptions` (none on a server without authentication). */
  auth?: NatsAuthOptions;
  /** Where replies arrive; default `_INBOX`. A directory identity may read only its own. */
  inboxPrefix?: string;
  logger: Logger;
  /**
   * How long the first connect may keep trying before it fails with a {@link StartupError}
   * naming the servers. Unset: it tries for ever (library callers that wait on purpose).
   */
  firstConnectTimeoutMs?: number;
}

/** A refusal that trying again cannot fix: the server said no to these credentials. */
const REFUSED = /authorization|authentication|permissions violation|user authentication expired/i;

/**
 * Connects for a long-running service: reconnects forever once connected, because a service
 * that gives up on NATS is a service that silently stops working. The first connect is
 * different: with `firstConnectTimeoutMs` a NATS that is not there is a configuration to report
 * (which servers, why), not an outage to wait out.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const servers = options.url.split(',').map((s) => s.trim());
  const base = {
    servers,
    name: options.name,
    ...options.auth,
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 10_000,
    // Without this, every request and JetStream publish builds two Error objects up front (with
    // their stack traces) in case it later times out: a tenth of the approval service's CPU under
    // load. Timeouts still fail with a TimeoutError, only without the caller's stack.
    noAsyncTraces: true,
  };
  const nc =
    options.firstConnectTimeoutMs === undefined
      ? await connect({ ...base, waitOnFirstConnect: true })
      : await connectWithin(base, options.url, options.firstConnectTimeoutMs);
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

/** Tries the first connect until `timeoutMs` has passed; a refusal of the credentials fails at once. */
async function connectWithin(
  base: Parameters<typeof connect>[0] & object,
  url: string,
  timeoutMs: number,
): Promise<NatsConnection> {
  const where = describeNats(url);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  do {
    try {
      return await connect({
        ...base,
        waitOnFirstConnect: false,
        timeout: Math.max(500, Math.min(2_000, deadline - Date.now())),
      });
    } catch (err) {
      last = err;
      if (REFUSED.test(reasonOf(err))) {
        throw new StartupError(
          `NATS at ${where} refused the connection: ${reasonOf(err)}`,
          { dependency: 'nats', nats_url: where, reason: reasonOf(err) },
          { cause: err },
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now()))));
  } while (Date.now() < deadline);
  throw new StartupError(
    `cannot reach NATS at ${where} (NATS_URL) within ${timeoutMs} ms: ${reasonOf(last)}`,
    { dependency: 'nats', nats_url: where, reason: reasonOf(last), waited_ms: timeoutMs },
    { cause: last },
  );
}

/**
 * A command-line tool's connection (`pnpm policy`, `pnpm directory`): the credentials of
 * NATS_CREDS or NATS_USER/NATS_PASSWORD, and, when the tool acts as a person, replies on that
 * identity's own inbox prefix (the only one a person's user may read). Bad credential variables
 * throw a {@link NatsCredentialsError} naming them; no reconnect loop, a tool fails fast.
 */
export async function connectCli(
  settings: { url: string } & NatsCredentialSettings,
  name: string,
  /** The person the tool acts as: replies come on their inbox prefix. */
  as: { identity?: string | undefined; inboxPrefix?: string | undefined } = {},
): Promise<NatsConnection> {
  const auth = natsAuthOptions(settings);
  if (!auth.ok)
    throw new NatsCredentialsError(auth.issues.map((i) => `${i.variable}: ${i.message}`).join('\n'));
  const inboxPrefix = as.inboxPrefix ?? (as.identity ? inboxPrefixOf(as.identity) : undefined);
  return connect({
    servers: settings.url.split(',').map((s) => s.trim()),
    name,
    ...(inboxPrefix ? { inboxPrefix } : {}),
    ...auth.options,
  });
}

/** The credential variables of a command-line tool do not make a login. */
export class NatsCredentialsError extends Error {
  override name = 'NatsCredentialsError';
}
