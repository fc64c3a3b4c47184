/**
 * Clear start-up errors. A service that cannot reach a dependency at start says so in one log
 * line naming the dependency and where it looked (never a password), within a few seconds, and
 * exits 1: before, a NATS URL pointing at nothing made a service wait forever and the run command
 * give up after 30 s with only "timed out". Once started, services keep reconnecting for ever
 * (a dependency that goes away later is an outage to ride out, not a configuration to report).
 */
import pg from 'pg';
import { errorCode, isConnectionError } from './db.js';

/**
 * A start-up failure someone must act on: its message is the log line's `msg`, its fields the
 * line's facts (`runMain` logs it so, without a stack trace).
 */
export class StartupError extends Error {
  readonly fields: Record<string, unknown>;

  constructor(message: string, fields: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
    this.fields = fields;
  }
}

/** `host:port/database` of a PostgreSQL URL: where it connects, without user or password. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '[unparseable DATABASE_URL]';
  }
}

/** The NATS servers of a `NATS_URL` list, without user or password. */
export function describeNats(url: string): string {
  return url
    .split(',')
    .map((s) => s.trim())
    .map((server) => {
      try {
        const u = new URL(server.includes('://') ? server : `nats://${server}`);
        return `${u.protocol}//${u.host}`;
      } catch {
        return '[unparseable NATS_URL]';
      }
    })
    .join(',');
}

/** A short reason from a connection failure: its code (ECONNREFUSED, 28P01…) and message. */
export function reasonOf(err: unknown): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * Connects once to PostgreSQL, retrying connection failures until `timeoutMs` has passed, so a
 * database that is still starting is waited for but one that is not there is reported. Refusals
 * that retrying cannot fix (a wrong password, a missing database) are reported at once.
 */
export async function probeDatabase(url: string, timeoutMs: number): Promise<void> {
  const where = describeDatabase(url);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let client: pg.Client;
    try {
      client = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: Math.max(500, Math.min(2_000, deadline - Date.now())),
      });
    } catch {
      // The parser's message may quote the URL, password and all: say only what it is not.
      throw new StartupError(`DATABASE_URL is not a PostgreSQL URL (${where})`, {
        dependency: 'postgresql',
        database: where,
      });
    }
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      last = err;
      if (!isConnectionError(err) || errorCode(err)?.startsWith('28') || errorCode(err) === '3D000') {
        throw new StartupError(
          `PostgreSQL at ${where} refused the connection: ${reasonOf(err)}`,
          { dependency: 'postgresql', database: where, reason: reasonOf(err) },
          { cause: err },
        );
      }
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now()))));
  }
  throw new StartupError(
    `cannot reach PostgreSQL at ${where} (DATABASE_URL) within ${timeoutMs} ms: ${reasonOf(last)}`,
    { dependency: 'postgresql', database: where, reason: reasonOf(last), waited_ms: timeoutMs },
    { cause: last },
  );
}
