/** The transaction's own time: the one clock every timestamp of a lifecycle change is taken from. */
import { CountersignError } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';

export async function transactionNow(client: pg.PoolClient): Promise<Date> {
  // Milliseconds, so every timestamp round-trips exactly through JSON, hashes and cursors.
  const result = await query<{ now: Date }>(
    client,
    "select date_trunc('milliseconds', now()) as now",
    [],
    'approval-now',
  );
  const now = result.rows[0]?.now;
  if (!now) throw new CountersignError('internal', 'database returned no time');
  return now;
}
