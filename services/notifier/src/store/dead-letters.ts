import type pg from 'pg';
import type { DeliveryStatus } from './deliveries.js';

/** What operators see and do with deliveries that did not go out: list, inspect, replay. */

export interface DeliveryView {
  id: number;
  event_id: string;
  event_type: string;
  action_id: string;
  channel: string;
  kind: string;
  target: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

export interface AttemptView {
  attempt: number;
  started_at: Date;
  finished_at: Date;
  outcome: string;
  status_code: number | null;
  error: string | null;
}

const DELIVERY_VIEW = `select d.id::int as id, d.event_id, e.type as event_type, e.action_id, d.channel, d.kind,
  d.target, d.status, d.attempts, d.last_error, d.created_at, d.finished_at
  from notifier.deliveries d join notifier.events e on e.id = d.event_id`;

export async function listDeliveries(
  pool: pg.Pool,
  filter: { status?: DeliveryStatus; channel?: string; actionId?: string; limit?: number },
): Promise<DeliveryView[]> {
  const result = await pool.query<DeliveryView>(
    `${DELIVERY_VIEW}
     where ($1::text is null or d.status = $1) and ($2::text is null or d.channel = $2)
       and ($3::text is null or e.action_id = $3)
     order by d.id desc limit $4`,
    [filter.status ?? null, filter.channel ?? null, filter.actionId ?? null, filter.limit ?? 50],
  );
  return result.rows;
}

export async function getDelivery(
  pool: pg.Pool,
  id: number,
): Promise<(DeliveryView & { attempt_log: AttemptView[] }) | undefined> {
  const delivery = await pool.query<DeliveryView>(`${DELIVERY_VIEW} where d.id = $1`, [id]);
  const row = delivery.rows[0];
  if (!row) return undefined;
  const attempts = await pool.query<AttemptView>(
    `select attempt, started_at, finished_at, outcome, status_code, error from notifier.attempts
     where delivery_id = $1 order by attempt`,
    [id],
  );
  return { ...row, attempt_log: attempts.rows };
}

/** Marks a dead (or superseded) delivery discarded: kept, never sent. False when not in that state. */
export async function discardDelivery(pool: pg.Pool, id: number): Promise<boolean> {
  const result = await pool.query(
    `update notifier.deliveries
     set status = 'discarded', finished_at = coalesce(finished_at, now()), updated_at = now()
     where id = $1 and status in ('dead', 'superseded')`,
    [id],
  );
  return result.rowCount === 1;
}

/** Per channel: deliveries waiting and dead, and when one last went out. */
export async function channelCounts(
  pool: pg.Pool,
): Promise<Map<string, { scheduled: number; dead: number; last_delivered_at: Date | null }>> {
  const result = await pool.query<{
    channel: string;
    scheduled: number;
    dead: number;
    last_delivered_at: Date | null;
  }>(
    `select channel,
            count(*) filter (where status in ('scheduled', 'in_progress'))::int as scheduled,
            count(*) filter (where status = 'dead')::int as dead,
            max(finished_at) filter (where status = 'delivered') as last_delivered_at
       from notifier.deliveries group by channel`,
  );
  return new Map(result.rows.map((r) => [r.channel, r]));
}

/**
 * Puts a dead (or superseded) delivery back on the schedule, due now, with a fresh retry
 * schedule. Its attempt history stays. Returns false when there is no such delivery in a
 * replayable state.
 */
export async function replayDelivery(pool: pg.Pool, id: number): Promise<boolean> {
  const result = await pool.query(
    `update notifier.deliveries
     set status = 'scheduled', next_attempt_at = now(), replay_base = attempts, finished_at = null,
         updated_at = now()
     where id = $1 and status in ('dead', 'superseded')`,
    [id],
  );
  return result.rowCount === 1;
}
