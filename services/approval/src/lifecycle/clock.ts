/** The transaction's own time: the one clock every timestamp of a lifecycle change is taken from. */
import { CountersignError } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';

// Milliseconds, so every timestamp round-trips exactly through JSON, hashes and cursors.
const NOW = "date_trunc('milliseconds', now())";

export async function transactionNow(client: pg.PoolClient): Promise<Date> {
  const result = await query<{ now: Date }>(client, `select ${NOW} as now`, [], 'approval-now');
  const now = result.rows[0]?.now;
  if (!now) throw new CountersignError('internal', 'database returned no time');
  return now;
}

/**
 * Locks an approval's row and reads the transaction's time in one round trip instead of two:
 * now() is the transaction's start whichever statement reads it. Every command on a pending
 * approval (decide, cancel) locks first and then needs the clock. Undefined when there is no
 * such approval.
 */
export async function lockWithNow(client: pg.PoolClient, actionId: string): Promise<Date | undefined> {
  const result = await query<{ now: Date }>(
    client,
    `select ${NOW} as now from approval.approvals where action_id = $1 for update`,
    [actionId],
    'approval-lock-now',
  );
  return result.rows[0]?.now;
}
