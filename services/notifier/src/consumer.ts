import { ApprovalEvent, Streams, Subjects } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/nats-core';
import type pg from 'pg';
import type { Channel } from './channels/types.js';
import { planDeliveries } from './routing.js';
import { recordEvent, recordInvalidEvent } from './store.js';

export interface ConsumerOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  channels: readonly Channel[];
  logger: Logger;
  durableName: string;
  concurrency: number;
  /** Delay of the first attempt (the retry schedule's first entry). */
  firstDelayMs: number;
  /** Called after an event's deliveries are recorded, to start them without waiting for a poll. */
  onRecorded: () => void;
}

export interface EventConsumer {
  stop(): Promise<void>;
}

const ACK_WAIT_MS = 30_000;

/** Creates or updates the durable consumer; waits for the stream, which the approval service creates. */
async function ensureConsumer(nc: NatsConnection, name: string, logger: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    // Events kept from before the first start are delivered too; delivery rows make that idempotent.
    deliver_policy: DeliverPolicy.All,
    filter_subjects: [Subjects.pendingAll, Subjects.decidedAll],
    ack_wait: nanos(ACK_WAIT_MS),
    // Never give up on an event: a database outage naks with a delay until it is back.
    max_deliver: -1,
    max_ack_pending: 1000,
  };
  for (let waited = 0; ; waited++) {
    try {
      await jsm.consumers.info(Streams.events, name);
      await jsm.consumers.update(Streams.events, name, {
        filter_subjects: config.filter_subjects,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
      });
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      if (err.code === JetStreamApiCodes.ConsumerNotFound) {
        await jsm.consumers.add(Streams.events, config);
        return;
      }
      if (err.code !== JetStreamApiCodes.StreamNotFound) throw err;
      if (waited % 10 === 0)
        logger.warn({ stream: Streams.events }, 'waiting for the events stream to exist');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * Consumes approval events: validates each, plans its deliveries and records them (scheduled)
 * in one transaction, then acks. No external call happens here, so a slow receiver never holds
 * up the stream; the delivery worker does the sending.
 */
export async function startEventConsumer(options: ConsumerOptions): Promise<EventConsumer> {
  const { nc, pool, logger } = options;
  await ensureConsumer(nc, options.durableName, logger);
  const consumer = await jetstream(nc).consumers.get(Streams.events, options.durableName);
  const messages = await consumer.consume({ max_messages: options.concurrency * 2 });

  const handle = async (msg: JsMsg) => {
    const log = logger.child({ subject: msg.subject, stream_seq: msg.seq });
    const raw = new TextDecoder().decode(msg.data);
    const event = parseEvent(msg.subject, raw);
    try {
      if (!event.ok) {
        await recordInvalidEvent(pool, { subject: msg.subject, streamSeq: msg.seq, error: event.error, raw });
        log.error({ error: event.error }, 'invalid event kept in notifier.invalid_events and terminated');
        msg.term(event.error.slice(0, 200));
        return;
      }
      const { data: approval } = event.value;
      const eventLog = log.child({ event_id: event.value.id, action_id: approval.action_id });
      const planned =
        event.value.type === 'approval.pending' && Date.parse(approval.expires_at) <= Date.now()
          ? [] // expired already: a review link would be dead on arrival
          : planDeliveries(options.channels, event.value);
      const created = await recordEvent(
        pool,
        event.value,
        planned.map(({ channel, target }) => ({
          channel: channel.name,
          kind: channel.kind,
          target: target.key,
          detail: target.detail,
        })),
        {
          streamSeq: msg.seq,
          firstDelayMs: options.firstDelayMs,
          supersedeChannels: options.channels.filter((c) => c.supersededByDecision).map((c) => c.name),
        },
      );
      msg.ack();
      eventLog.info({ event_type: event.value.type, planned: planned.length, created }, 'event accepted');
      if (created > 0) options.onRecorded();
    } catch (err) {
      // The database is down (or a bug): try again later, with a growing delay.
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(5, msg.info.deliveryCount - 1));
      log.error({ err, retry_in_ms: delay }, 'could not record event; will be redelivered');
      msg.nak(delay);
    }
  };

  const loop = (async () => {
    const active = new Set<Promise<void>>();
    for await (const msg of messages) {
      const task: Promise<void> = handle(msg).finally(() => active.delete(task));
      active.add(task);
      if (active.size >= options.concurrency) await Promise.race(active);
    }
    await Promise.all(active);
  })();

  return {
    async stop() {
      await messages.close();
      await loop;
    },
  };
}

type Parsed = { ok: true; value: ApprovalEvent } | { ok: false; error: string };

function parseEvent(subject: string, raw: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const result = ApprovalEvent.safeParse(json);
  if (!result.success) {
    const fields = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, error: `not an ApprovalEvent: ${fields.join('; ')}` };
  }
  const event = result.data;
  const expected =
    event.type === 'approval.pending'
      ? Subjects.pending(event.data.action_id)
      : Subjects.decided(event.data.action_id);
  if (subject !== expected)
    return { ok: false, error: `a ${event.type} event does not belong on ${subject}` };
  return { ok: true, value: event };
}
