import { type TraceCarrier, withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import type { ChannelKind, TargetDetail } from '../channels/types.js';
import type { OutcomeResult } from '../outcome.js';

/** A delivery's way through its attempts: claimed under a lease, finished, or recovered. */

export type DeliveryStatus = 'scheduled' | 'in_progress' | 'delivered' | 'dead' | 'superseded' | 'discarded';

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: number;
  eventId: string;
  channel: string;
  kind: ChannelKind;
  target: string;
  detail: TargetDetail;
  /** Including the attempt just claimed. */
  attempts: number;
  replayBase: number;
  startedAt: Date;
  event: unknown;
  /** The trace its event arrived in (null when tracing was off): the attempt continues it. */
  trace: TraceCarrier | null;
}

interface ClaimRow {
  id: string;
  event_id: string;
  channel: string;
  kind: ChannelKind;
  target: string;
  target_detail: TargetDetail;
  attempts: number;
  replay_base: number;
  attempt_started_at: Date;
  event: unknown;
  trace_context: TraceCarrier | null;
}

export interface ClaimOptions {
  limit: number;
  /** Free attempt slots per configured channel; channels not listed get `limit`. */
  room: Map<string, number>;
  leaseMs: number;
}

/**
 * Claims due deliveries for an attempt: marks them in progress under a lease *before* anything
 * is sent, so no other replica (and no redelivery) starts the same side effect. Rows locked by
 * another replica are skipped, and each channel gets at most its free slots, so a backlog on
 * one slow channel never takes the slots of the others.
 */
export async function claimDue(pool: pg.Pool, options: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (options.limit <= 0) return [];
  const channels = [...options.room.keys()];
  const result = await pool.query<ClaimRow>(
    `with recursive room as (
       select * from unnest($2::text[], $3::int[]) as r(channel, room)
     ), pending_channels as (
       -- The channels that have scheduled deliveries, one index probe each (a loose index
       -- scan on deliveries_scheduled_channel): the cost does not grow with the backlog.
       (select d.channel from notifier.deliveries d where d.status = 'scheduled' order by d.channel limit 1)
       union all
       select (select d.channel from notifier.deliveries d
                where d.status = 'scheduled' and d.channel > p.channel order by d.channel limit 1)
         from pending_channels p where p.channel is not null
     ), candidates as (
       -- Per channel its soonest due deliveries, at most its free slots; a channel that is no
       -- longer configured gets $1 (its deliveries are claimed to be dead-lettered).
       select d.id, d.next_attempt_at
         from pending_channels p
         left join room r on r.channel = p.channel
         cross join lateral (
           select d.id, d.next_attempt_at from notifier.deliveries d
            where d.channel = p.channel and d.status = 'scheduled' and d.next_attempt_at <= now()
            order by d.next_attempt_at, d.id
            limit greatest(coalesce(r.room, $1), 0)
         ) d
        where p.channel is not null
          -- a disabled channel's deliveries are dead-lettered by the maintenance pass, never sent
          and not exists (select 1 from notifier.disabled_channels c where c.channel = p.channel)
     ), picked as (
       select d.id from notifier.deliveries d join candidates c on c.id = d.id
       where d.status = 'scheduled'
       order by c.next_attempt_at, d.id
       limit $1
       for update of d skip locked
     )
     update notifier.deliveries d
     set status = 'in_progress', attempts = d.attempts + 1, attempt_started_at = now(),
         lease_until = now() + make_interval(secs => $4::float8 / 1000), updated_at = now()
     from picked, notifier.events e
     where d.id = picked.id and e.id = d.event_id
     returning d.id, d.event_id, d.channel, d.kind, d.target, d.target_detail, d.attempts, d.replay_base,
               d.attempt_started_at, e.body as event, e.trace_context`,
    [options.limit, channels, channels.map((c) => options.room.get(c) ?? 0), options.leaseMs],
  );
  return result.rows.map((row) => ({
    id: Number(row.id),
    eventId: row.event_id,
    channel: row.channel,
    kind: row.kind,
    target: row.target,
    detail: row.target_detail,
    attempts: row.attempts,
    replayBase: row.replay_base,
    startedAt: row.attempt_started_at,
    event: row.event,
    trace: row.trace_context,
  }));
}

export interface AttemptRecord {
  outcome: OutcomeResult | 'interrupted';
  statusCode: number | undefined;
  error: string | undefined;
  /** What becomes of the delivery. */
  next: { status: 'delivered' | 'dead' } | { status: 'scheduled'; delayMs: number };
  /** Disable the channel (HTTP 410), with this reason. */
  disableChannel?: string;
}

/**
 * Records an attempt and the delivery's next state together. Guarded by the claim (still in
 * progress, same attempt number): a worker that lost its lease cannot overwrite a newer state.
 * Returns false when the claim was lost.
 */
export async function finishAttempt(
  pool: pg.Pool,
  delivery: Pick<ClaimedDelivery, 'id' | 'attempts' | 'startedAt' | 'channel'>,
  record: AttemptRecord,
): Promise<boolean> {
  return withTransaction(pool, (client) => finishWith(client, delivery, record));
}

async function finishWith(
  client: pg.PoolClient,
  delivery: Pick<ClaimedDelivery, 'id' | 'attempts' | 'startedAt' | 'channel'>,
  record: AttemptRecord,
): Promise<boolean> {
  const next = record.next;
  const updated = await client.query(
    `update notifier.deliveries
     set status = $3, lease_until = null, updated_at = now(), last_error = $4,
         next_attempt_at = case when $3 = 'scheduled' then now() + make_interval(secs => $5::float8 / 1000) end,
         finished_at = case when $3 in ('delivered', 'dead') then now() end
     where id = $1 and status = 'in_progress' and attempts = $2`,
    [
      delivery.id,
      delivery.attempts,
      next.status,
      record.error ?? null,
      next.status === 'scheduled' ? next.delayMs : 0,
    ],
  );
  if (updated.rowCount !== 1) return false;
  await client.query(
    `insert into notifier.attempts (delivery_id, attempt, started_at, outcome, status_code, error)
     values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
    [
      delivery.id,
      delivery.attempts,
      delivery.startedAt,
      record.outcome,
      record.statusCode ?? null,
      record.error ?? null,
    ],
  );
  if (record.disableChannel) {
    await client.query(
      `insert into notifier.disabled_channels (channel, reason) values ($1, $2)
       on conflict (channel) do nothing`,
      [delivery.channel, record.disableChannel],
    );
  }
  return true;
}

export interface ExpiredClaim {
  id: number;
  channel: string;
  attempts: number;
  replayBase: number;
  startedAt: Date;
}

/**
 * Deliveries whose lease ran out: the process that claimed them died (or lost its database)
 * mid-attempt, so whether the receiver got the message is unknown. `decide` says what to do
 * with each; both happen in one transaction under row locks.
 */
export async function recoverExpiredClaims(
  pool: pg.Pool,
  decide: (claim: ExpiredClaim) => AttemptRecord,
  limit = 100,
): Promise<ExpiredClaim[]> {
  return withTransaction(pool, async (client) => {
    const result = await client.query<{
      id: string;
      channel: string;
      attempts: number;
      replay_base: number;
      attempt_started_at: Date | null;
    }>(
      `select id, channel, attempts, replay_base, attempt_started_at from notifier.deliveries
       where status = 'in_progress' and lease_until < now()
       order by lease_until limit $1 for update skip locked`,
      [limit],
    );
    const claims = result.rows.map((row) => ({
      id: Number(row.id),
      channel: row.channel,
      attempts: row.attempts,
      replayBase: row.replay_base,
      startedAt: row.attempt_started_at ?? new Date(),
    }));
    for (const claim of claims) await finishWith(client, claim, decide(claim));
    return claims;
  });
}
