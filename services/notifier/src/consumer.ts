import { type ApprovalEvent, decodeApprovalEvent, Streams, Subjects } from '@countersign/contracts';
import { batches, isDataError, type Logger } from '@countersign/runtime';
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
import { type EventRecord, recordEvents, recordInvalidEvent } from './store.js';

export interface ConsumerOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  channels: readonly Channel[];
  logger: Logger;
  durableName: string;
  /** Batches recorded at once (each one transaction of up to {@link EVENT_BATCH_SIZE} events). */
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

/** Events recorded per transaction at most: events that arrive together cost one commit. */
export const EVENT_BATCH_SIZE = 100;
/** Life of one pull request on the event consumer; heartbeats come every half of it. */
const PULL_EXPIRES_MS = 3_000;

const decoder = new TextDecoder();

/** Redelivery delay of an event that could not be recorded: grows with its deliveries. */
const retryDelay = (msg: JsMsg) => Math.min(30_000, 1000 * 2 ** Math.min(5, msg.info.deliveryCount - 1));

interface Accepted {
  msg: JsMsg;
  record: EventRecord;
}

/**
 * Consumes approval events: validates each, plans its deliveries and records them (scheduled),
 * then acks. Events already buffered together are recorded in one transaction (up to
 * {@link EVENT_BATCH_SIZE}; a lone event goes alone, so latency stays low when idle), each acked
 * only after that commit. No external call happens here, so a slow receiver never holds up
 * the stream; the delivery worker does the sending.
 */
export async function startEventConsumer(options: ConsumerOptions): Promise<EventConsumer> {
  const { nc, pool, logger } = options;
  await ensureConsumer(nc, options.durableName, logger);
  const consumer = await jetstream(nc).consumers.get(Streams.events, options.durableName);
  // Bounded prefetch: buffered messages age against ack_wait before they are handled. Short
  // pulls: when the consumer's leader dies in a cluster while this connection stays up, the
  // pending pull dies with it, and only missed heartbeats (half a pull's life each, two of them)
  // tell the client to pull again; with the default 30 s pulls deliveries stalled for ~35 s.
  const messages = await consumer.consume({ max_messages: EVENT_BATCH_SIZE * 2, expires: PULL_EXPIRES_MS });
  const supersedeChannels = options.channels.filter((c) => c.supersededByDecision).map((c) => c.name);

  const keepInvalid = async (msg: JsMsg, raw: string, error: string) => {
    const fields = { subject: msg.subject, stream_seq: msg.seq };
    try {
      await recordInvalidEvent(pool, { subject: msg.subject, streamSeq: msg.seq, error, raw });
      logger.error({ ...fields, error }, 'invalid event kept in notifier.invalid_events and terminated');
      msg.term(error.slice(0, 200));
    } catch (err) {
      const delay = retryDelay(msg);
      logger.error({ ...fields, err, retry_in_ms: delay }, 'could not record event; will be redelivered');
      msg.nak(delay);
    }
  };

  /**
   * Records accepted events in one transaction and acks them after its commit. When the
   * database refuses the batch's data, each event is recorded on its own, so one bad event
   * cannot hold the others back; any other failure (the database is down) naks them all with
   * a growing delay.
   */
  const record = async (accepted: readonly Accepted[]): Promise<void> => {
    let created: number[];
    try {
      created = await recordEvents(
        pool,
        accepted.map((a) => a.record),
        { firstDelayMs: options.firstDelayMs, supersedeChannels },
      );
    } catch (err) {
      if (accepted.length > 1 && isDataError(err)) {
        for (const a of accepted) await record([a]);
        return;
      }
      const first = accepted[0] as Accepted;
      const delay = retryDelay(first.msg);
      // One line per batch: while the database is down every event fails alike.
      logger.error(
        {
          subject: first.msg.subject,
          stream_seq: first.msg.seq,
          events: accepted.length,
          err,
          retry_in_ms: delay,
        },
        'could not record event; will be redelivered',
      );
      for (const a of accepted) a.msg.nak(retryDelay(a.msg));
      return;
    }
    for (const [i, { msg, record: r }] of accepted.entries()) {
      msg.ack();
      logger.info(
        {
          subject: msg.subject,
          stream_seq: msg.seq,
          event_id: r.event.id,
          action_id: r.event.data.action_id,
          event_type: r.event.type,
          planned: r.deliveries.length,
          created: created[i],
        },
        'event accepted',
      );
    }
    if (created.some((n) => n > 0)) options.onRecorded();
  };

  const handleBatch = async (batch: readonly JsMsg[]): Promise<void> => {
    const accepted: Accepted[] = [];
    const invalid: Promise<void>[] = [];
    for (const msg of batch) {
      const raw = decoder.decode(msg.data);
      const event = parseEvent(msg.subject, raw);
      if (!event.ok) {
        invalid.push(keepInvalid(msg, raw, event.error));
        continue;
      }
      const approval = event.value.data;
      const planned =
        event.value.type === 'approval.pending' && Date.parse(approval.expires_at) <= Date.now()
          ? [] // expired already: a review link would be dead on arrival
          : planDeliveries(options.channels, event.value);
      accepted.push({
        msg,
        record: {
          event: event.value,
          streamSeq: msg.seq,
          deliveries: planned.map(({ channel, target }) => ({
            channel: channel.name,
            kind: channel.kind,
            target: target.key,
            detail: target.detail,
          })),
        },
      });
    }
    await Promise.all([...invalid, accepted.length > 0 ? record(accepted) : undefined]);
  };

  const loop = (async () => {
    const active = new Set<Promise<void>>();
    const dispatch = (batch: JsMsg[]) => {
      const task: Promise<void> = handleBatch(batch)
        .catch((err: unknown) => {
          // handleBatch settles every message itself; reaching here is a bug. Retry them.
          logger.error({ err }, 'event batch failed');
          for (const msg of batch) msg.nak(retryDelay(msg));
        })
        .finally(() => active.delete(task));
      active.add(task);
    };
    // What is already buffered, as one batch; the last one before the iterator closes too, so
    // nothing received is left to ack_wait.
    for await (const batch of batches(messages, EVENT_BATCH_SIZE)) {
      while (active.size >= options.concurrency) await Promise.race(active);
      dispatch(batch);
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
  const decoded = decodeApprovalEvent(raw);
  if (!decoded.ok) return { ok: false, error: decoded.error.message };
  const event = decoded.event;
  const expected =
    event.type === 'approval.pending'
      ? Subjects.pending(event.data.action_id)
      : Subjects.decided(event.data.action_id);
  if (subject !== expected)
    return { ok: false, error: `a ${event.type} event does not belong on ${subject}` };
  return { ok: true, value: event };
}
