/**
 * Bounded storage: a scheduled job that deletes rows past their retention, in small batches,
 * in one replica at a time. Each service hands it the steps for its own schema (the approval
 * service never touches the notifier's tables, nor the other way round: each runs as a role
 * with rights on its own schema only).
 *
 * Once across replicas: a run takes a session-level PostgreSQL advisory lock with
 * `pg_try_advisory_lock` and skips when another replica holds it, so N replicas do one
 * run's work, not N. In small batches: each statement deletes at most `batchSize` rows in its
 * own short transaction, so a first run over a year of rows never holds long locks or bloats
 * one transaction, and the services' own writes interleave with it.
 */
import type pg from 'pg';
import type { Logger } from './logger.js';
import { sleeper } from './timing.js';

/** `$2` milliseconds before now: the cutoff a step's SQL compares its clock column with. */
export const RETENTION_CUTOFF = `now() - make_interval(secs => $2::float8 / 1000)`;

/** One kind of row to prune. */
export interface RetentionStep {
  /** Names the step in logs and in the counts a run returns (`outbox`, `deliveries`, …). */
  name: string;
  /** How long a row is kept past its own timestamp, in ms; null keeps the rows for ever (the step is skipped). */
  retentionMs: number | null;
  /**
   * One batch: a DELETE of at most `$1` rows older than `$2` milliseconds (of the step's own
   * clock column), e.g. `delete from s.t where id in (select id from s.t where at < now() -
   * make_interval(secs => $2 / 1000.0) limit $1)`. Returns the deleted rows' count.
   */
  sql: string;
}

export interface RetentionOptions {
  pool: pg.Pool;
  logger: Logger;
  /** The advisory lock's name (hashed by PostgreSQL's `hashtext`): one per schema. */
  lockName: string;
  steps: readonly RetentionStep[];
  /** Rows deleted per statement. */
  batchSize: number;
  /** Pause between batches, so a large first run leaves the database room for real work. */
  pauseMs?: number;
}

/** Rows deleted per step by one run, or `skipped` when another replica held the lock. */
export type RetentionResult = { skipped: true } | { skipped: false; deleted: Record<string, number> };

/**
 * Runs every step once, to the end (batch after batch until a batch deletes fewer than
 * `batchSize` rows), under the advisory lock. Throws on database failures; the scheduler logs
 * them and tries again at the next interval.
 */
export async function runRetention(options: RetentionOptions): Promise<RetentionResult> {
  const client = await options.pool.connect();
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    const locked = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
      options.lockName,
    ]);
    if (!locked.rows[0]?.ok) return { skipped: true };
    const pause = options.pauseMs ?? 0;
    const deleted: Record<string, number> = {};
    try {
      for (const step of options.steps) {
        deleted[step.name] = 0;
        if (step.retentionMs === null) continue;
        for (;;) {
          // The lock's connection runs the deletes too: one connection per run, whatever the steps.
          const result = await client.query(step.sql, [options.batchSize, step.retentionMs]);
          const n = result.rowCount ?? 0;
          deleted[step.name] = (deleted[step.name] ?? 0) + n;
          if (n < options.batchSize) break;
          if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }
    } finally {
      await client.query('select pg_advisory_unlock(hashtext($1))', [options.lockName]).catch(() => {
        broken = true;
      });
    }
    return { skipped: false, deleted };
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    client.off('error', onError);
    // A connection that failed mid-run may still hold the lock: never hand it back to the pool.
    client.release(broken);
  }
}

export interface RetentionJob {
  /** Runs now (tests, an operator's nudge) and resolves with that run's result. */
  runNow(): Promise<RetentionResult>;
  stop(): Promise<void>;
}

/**
 * Runs {@link runRetention} every `intervalMs`, the first time `firstDelayMs` after start (so a
 * replica restarted often still prunes), never two runs at once in this process. Failures are
 * logged and retried at the next interval; the job never throws.
 */
export function startRetentionJob(
  options: RetentionOptions & { intervalMs: number; firstDelayMs?: number },
): RetentionJob {
  const log = options.logger.child({ component: 'retention' });
  const pause = sleeper();
  let stopping = false;
  let running: Promise<RetentionResult> | undefined;
  const once = (): Promise<RetentionResult> => {
    running ??= runRetention(options).finally(() => {
      running = undefined;
    });
    return running;
  };
  const loop = async () => {
    await pause.sleep(options.firstDelayMs ?? Math.min(options.intervalMs, 60_000));
    while (!stopping) {
      try {
        const result = await once();
        if (!result.skipped && Object.values(result.deleted).some((n) => n > 0))
          log.info({ deleted: result.deleted }, 'retention: deleted rows past their retention');
      } catch (err) {
        log.warn({ err }, 'retention run failed; retrying at the next interval');
      }
      await pause.sleep(options.intervalMs);
    }
  };
  const done = loop();
  return {
    runNow: once,
    stop: async () => {
      stopping = true;
      pause.wake();
      await done;
      await running?.catch(() => {});
    },
  };
}
