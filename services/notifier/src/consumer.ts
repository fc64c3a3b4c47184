import {
  type ApprovalEvent,
  decodeApprovalEvent,
  eventSubject,
  Streams,
  Subjects,
} from '@countersign/contracts';
import {
  contextFromHeaders,
  isDataError,
  type Logger,
  type MessageOutcome,
  startBatchConsumer,
  traceCarrier,
  tracingEnabled,
} from '@countersign/runtime';
import { type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
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

/** Events recorded per transaction at most: events that arrive together cost one commit. */
export const EVENT_BATCH_SIZE = 100;
/**
 * Life of one pull on the event consumer; heartbeats come every half of it. Short: when the
 * consumer's leader dies in a cluster while this connection stays up, the pending pull dies with
 * it, and only missed heartbeats (half a pull's life each, two of them) end it; with 30 s pulls
 * deliveries stalled for ~35 s.
 */
const PULL_EXPIRES_MS = 3_000;
/** Bounded prefetch: buffered events age against the ack wait before they are handled. */
const PULL_MAX_MESSAGES = EVENT_BATCH_SIZE * 2;
const ACK_WAIT_MS = 30_000;
const MAX_ACK_PENDING = 1000;
/** Redelivery delay of an event that could not be recorded: grows with its deliveries. */
const RETRY = { baseMs: 1000, maxMs: 30_000 };

const decoder = new TextDecoder();

interface Accepted {
  index: number;
  msg: JsMsg;
  record: EventRecord;
}

/** Why an event is terminated, kept in notifier.invalid_events. */
interface Invalid {
  raw: string;
  error: string;
}

type Outcome = MessageOutcome<Invalid>;

/**
 * Consumes approval events: validates each, plans its deliveries and records them (scheduled),
 * then acks. Events already buffered together are recorded in one transaction (up to
 * {@link EVENT_BATCH_SIZE}; a lone event goes alone, so latency stays low when idle), each acked
 * only after that commit. No external call happens here, so a slow receiver never holds up
 * the stream; the delivery worker does the sending.
 */
export async function startEventConsumer(options: ConsumerOptions): Promise<EventConsumer> {
  const { nc, pool, logger } = options;
  const supersedeChannels = options.channels.filter((c) => c.supersededByDecision).map((c) => c.name);

  const deadLetter = async (msg: JsMsg, { detail }: { detail: Invalid }) => {
    await recordInvalidEvent(pool, { subject: msg.subject, streamSeq: msg.seq, ...detail });
    logger.error(
      { subject: msg.subject, stream_seq: msg.seq, error: detail.error },
      'invalid event kept in notifier.invalid_events and terminated',
    );
  };

  /**
   * Records accepted events in one transaction; they are acked after its commit. When the
   * database refuses the batch's data, each event is recorded on its own, so one bad event
   * cannot hold the others back; any other failure (the database is down) naks them all with
   * a growing delay.
   */
  const record = async (accepted: readonly Accepted[], outcomes: Outcome[]): Promise<void> => {
    let created: number[];
    try {
      created = await recordEvents(
        pool,
        accepted.map((a) => a.record),
        { firstDelayMs: options.firstDelayMs, supersedeChannels },
      );
    } catch (err) {
      if (accepted.length > 1 && isDataError(err)) {
        for (const a of accepted) await record([a], outcomes);
        return;
      }
      const first = accepted[0] as Accepted;
      // One line per batch: while the database is down every event fails alike.
      logger.error(
        { subject: first.msg.subject, stream_seq: first.msg.seq, events: accepted.length, err },
        'could not record event; will be redelivered',
      );
      for (const a of accepted) outcomes[a.index] = { kind: 'nak' };
      return;
    }
    for (const [i, { index, msg, record: r }] of accepted.entries()) {
      outcomes[index] = { kind: 'ack' };
      // Debug: one line per event at info level is a measurable CPU cost under load.
      logger.debug(
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

  const handle = async (batch: readonly JsMsg[]): Promise<Outcome[]> => {
    const outcomes: Outcome[] = new Array(batch.length);
    const accepted: Accepted[] = [];
    for (const [index, msg] of batch.entries()) {
      const raw = decoder.decode(msg.data);
      const event = parseEvent(msg.subject, raw);
      if (!event.ok) {
        outcomes[index] = {
          kind: 'term',
          reason: event.error.slice(0, 200),
          detail: { raw, error: event.error },
        };
        continue;
      }
      const approval = event.value.data;
      const planned =
        event.value.type !== 'approval.decided' && Date.parse(approval.expires_at) <= Date.now()
          ? [] // expired already: a review link would be dead on arrival
          : planDeliveries(options.channels, event.value);
      // Kept with the event: its deliveries, sent later by the worker, continue this trace.
      const parent = tracingEnabled() ? contextFromHeaders(msg.headers) : undefined;
      const trace = parent ? traceCarrier(parent) : undefined;
      accepted.push({
        index,
        msg,
        record: {
          event: event.value,
          streamSeq: msg.seq,
          ...(trace ? { trace } : {}),
          deliveries: planned.map(({ channel, target }) => ({
            channel: channel.name,
            kind: channel.kind,
            target: target.key,
            detail: target.detail,
          })),
        },
      });
    }
    if (accepted.length > 0) await record(accepted, outcomes);
    return outcomes;
  };

  return startBatchConsumer({
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    stream: Streams.events,
    consumer: {
      name: options.durableName,
      filterSubjects: [Subjects.pendingAll, Subjects.decidedAll, Subjects.reminderAll, Subjects.escalatedAll],
      ackWaitMs: ACK_WAIT_MS,
      maxAckPending: MAX_ACK_PENDING,
    },
    // The approval service creates the events stream.
    waitForStream: true,
    logger,
    batchSize: EVENT_BATCH_SIZE,
    concurrency: options.concurrency,
    pullMaxMessages: PULL_MAX_MESSAGES,
    pullExpiresMs: PULL_EXPIRES_MS,
    retry: RETRY,
    handle,
    deadLetter,
  });
}

type Parsed = { ok: true; value: ApprovalEvent } | { ok: false; error: string };

function parseEvent(subject: string, raw: string): Parsed {
  const decoded = decodeApprovalEvent(raw);
  if (!decoded.ok) return { ok: false, error: decoded.error.message };
  const event = decoded.event;
  const expected = eventSubject(event.type, event.data.action_id);
  if (subject !== expected)
    return { ok: false, error: `a ${event.type} event does not belong on ${subject}` };
  return { ok: true, value: event };
}
