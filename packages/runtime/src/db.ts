import { CountersignError } from '@countersign/contracts';
import type pg from 'pg';
import { inTrace, SpanKind, withSpan } from './tracing.js';

/** SQLSTATEs worth running the whole transaction again for: deadlock, serialization failure. */
const RETRY_TRANSACTION = new Set(['40P01', '40001']);
const TRANSACTION_ATTEMPTS = 3;

/** A pg error's SQLSTATE (or Node's socket error code), if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof CountersignError) return errorCode(err.cause);
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * True when the database refused the data itself (data exception, constraint violation,
 * program limit): trying the same data again cannot succeed. Anything else may be transient.
 */
export function isDataError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  return code.startsWith('22') || code.startsWith('23') || code.startsWith('54');
}

/**
 * True when the failure is the database being unreachable or going away (connection refused or
 * reset, admin shutdown, too many connections, pool timeout) rather than something about the
 * data: callers retry the former and treat the latter as a bug or a poison message.
 */
export function isConnectionError(err: unknown): boolean {
  const code = errorCode(err);
  if (code === undefined) {
    // pg reports a dropped connection or a pool timeout as a plain Error without a code.
    const message = err instanceof Error ? err.message : String(err);
    return /connection terminated|connection error|timeout exceeded when trying to connect|not queryable|ECONN/i.test(
      message,
    );
  }
  return (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    code.startsWith('53') || // insufficient resources: too many connections, disk full
    code.startsWith('58') || // system error: I/O
    code.startsWith('E') // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, ...
  );
}

/** Maps a database failure onto the contract: `unavailable` when retrying may help. */
export function databaseError(err: unknown): CountersignError {
  if (err instanceof CountersignError) return err;
  if (isConnectionError(err)) {
    return new CountersignError('unavailable', 'the database is unavailable; retry', undefined, {
      cause: err,
    });
  }
  return new CountersignError('internal', 'internal error', undefined, { cause: err });
}

/**
 * Runs `fn` in a READ COMMITTED transaction on one pooled client; commits on success, rolls back
 * on any throw. A deadlock or serialization failure runs it again (a few times) since nothing
 * was written; every other failure is rethrown, database failures as CountersignErrors.
 */
export function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  /** The span's name, when a traced operation runs it (`approval submission write`). */
  spanName = 'db transaction',
): Promise<T> {
  // Only inside a traced operation: a poll loop's transactions would each be a trace of their own.
  if (!inTrace()) return runTransaction(pool, fn);
  return withSpan(spanName, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql' } }, () =>
    runTransaction(pool, fn),
  );
}

async function runTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw databaseError(err);
    }
    let broken = false;
    // The pool listens for errors only on idle clients. If the server goes away while this
    // transaction waits between statements (on the policy service, say), the checked-out client
    // emits 'error', and unheard that kills the process; heard, the next statement fails with it.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('begin');
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      try {
        await client.query('rollback');
      } catch {
        // The connection itself failed: never hand it back to the pool.
        broken = true;
      }
      if (attempt < TRANSACTION_ATTEMPTS && RETRY_TRANSACTION.has(errorCode(err) ?? '')) continue;
      throw databaseError(err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}

/**
 * Runs one statement on the pool, mapping failures onto the contract's errors. `name` makes it a
 * named prepared statement: each connection parses and plans it once instead of on every call
 * (for the hot statements; the text under one name must never change).
 */
export async function query<R extends pg.QueryResultRow>(
  pool: pg.Pool | pg.PoolClient,
  text: string,
  values: unknown[] = [],
  name?: string,
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(name ? { name, text, values } : { text, values });
  } catch (err) {
    throw databaseError(err);
  }
}
