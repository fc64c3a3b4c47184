import type { ApprovalEvent } from '@countersign/contracts';
import { type TraceCarrier, withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import type { ChannelKind, TargetDetail } from '../channels/types.js';

/** Incoming approval events: recorded once with their deliveries; unreadable ones kept aside. */

export interface NewDelivery {
  channel: string;
  kind: ChannelKind;
  target: string;
  detail: TargetDetail;
}

export interface EventRecord {
  event: ApprovalEvent;
  deliveries: NewDelivery[];
  streamSeq: number | undefined;
  /** The trace the event arrived in (its headers' `traceparent`); absent when tracing is off. */
  trace?: TraceCarrier;
}

export interface RecordEventsOptions {
  firstDelayMs: number;
  /** On a decided event: channels whose not-yet-sent pending notifications are dropped. */
  supersedeChannels: string[];
}

/**
 * Records events and their deliveries, all scheduled, in one transaction: events that arrive
 * together cost one commit. Events and deliveries that exist already (the stream redelivered
 * the event) are left alone. Returns how many deliveries are new, per event, in order.
 */
export async function recordEvents(
  pool: pg.Pool,
  records: readonly EventRecord[],
  options: RecordEventsOptions,
): Promise<number[]> {
  if (records.length === 0) return [];
  // By id, so concurrent batches holding the same redelivered events lock them in one order.
  const sorted = [...records].sort((a, b) =>
    a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0,
  );
  return withTransaction(pool, async (client) => {
    await client.query(
      `insert into notifier.events (id, type, action_id, stream_seq, body, trace_context)
       select id, type, action_id, stream_seq, body, trace_context
         from json_to_recordset($1::json)
              as x(id text, type text, action_id text, stream_seq bigint, body json, trace_context json)
       on conflict (id) do nothing`,
      [
        JSON.stringify(
          sorted.map((r) => ({
            id: r.event.id,
            type: r.event.type,
            action_id: r.event.data.action_id,
            stream_seq: r.streamSeq ?? null,
            body: r.event,
            trace_context: r.trace ?? null,
          })),
        ),
      ],
    );
    const created = new Map<string, number>();
    const deliveries = sorted.flatMap((r) => r.deliveries.map((d) => ({ ...d, event_id: r.event.id })));
    if (deliveries.length > 0) {
      const result = await client.query<{ event_id: string }>(
        `insert into notifier.deliveries (event_id, channel, kind, target, target_detail, status, next_attempt_at)
         select d.event_id, d.channel, d.kind, d.target, d.detail, 'scheduled',
                now() + make_interval(secs => $2::float8 / 1000)
           from json_to_recordset($1::json) as d(event_id text, channel text, kind text, target text, detail jsonb)
         on conflict (event_id, channel, target) do nothing
         returning event_id`,
        [JSON.stringify(deliveries), options.firstDelayMs],
      );
      for (const row of result.rows) created.set(row.event_id, (created.get(row.event_id) ?? 0) + 1);
    }
    const decided = sorted
      .filter((r) => r.event.type === 'approval.decided')
      .map((r) => r.event.data.action_id);
    if (decided.length > 0 && options.supersedeChannels.length > 0) {
      await client.query(
        `update notifier.deliveries d
         set status = 'superseded', finished_at = now(), updated_at = now(),
             last_error = 'the approval was decided before this notification was sent'
         from notifier.events e
         where d.event_id = e.id and e.action_id = any($1::text[]) and e.type <> 'approval.decided'
           and d.status = 'scheduled' and d.channel = any($2::text[])`,
        [decided, options.supersedeChannels],
      );
    }
    // A redelivered event counts its new deliveries once, at its first position.
    return records.map((r) => {
      const n = created.get(r.event.id) ?? 0;
      created.delete(r.event.id);
      return n;
    });
  });
}

export async function recordInvalidEvent(
  pool: pg.Pool,
  invalid: { subject: string; streamSeq: number | undefined; error: string; raw: string },
): Promise<void> {
  await pool.query(
    'insert into notifier.invalid_events (subject, stream_seq, error, raw) values ($1, $2, $3, $4)',
    [invalid.subject, invalid.streamSeq ?? null, invalid.error, invalid.raw],
  );
}
