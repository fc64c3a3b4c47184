import type pg from 'pg';
import { getDelivery, listDeliveries } from '../../src/store.js';

/** Every delivery of an approval's events, with its attempt log, oldest first. */
export async function deliveriesOf(pool: pg.Pool, actionId: string) {
  const rows = await listDeliveries(pool, { actionId, limit: 500 });
  const full = await Promise.all(rows.map((row) => getDelivery(pool, row.id)));
  return full.filter((d) => d !== undefined).sort((a, b) => a.id - b.id);
}
