/**
 * Server-sent events: one ordered JetStream consumer on the APPROVAL_EVENTS stream, shared by
 * every open stream, fans `approval.pending.*` and `approval.decided.*` out as SSE messages whose
 * `id:` is the event's stream sequence. A client that reconnects with `Last-Event-ID` gets what
 * it missed from the stream, then the live events, with no gap and no duplicate. Streams get a
 * comment line every heartbeat so idle proxies keep them open, and are dropped when the client
 * goes away or stops reading (its buffer would otherwise grow without bound).
 */
import type { ServerResponse } from 'node:http';
import {
  CountersignError,
  decodeApprovalEvent,
  encodeApprovalEvent,
  Streams,
  Subjects,
} from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ApprovalMetrics } from '../metrics.js';

export interface EventHub {
  /**
   * Takes over the response as an event stream until the client leaves or the hub stops. With
   * `lastEventId` (the request's `Last-Event-ID`), the events after it come first. Throws a
   * CountersignError, before anything is written, for a malformed id, too many streams, or a
   * stream that cannot be read.
   */
  attach(res: ServerResponse, lastEventId?: string | string[]): Promise<void>;
  /** Open streams. */
  size(): number;
  /** Ends every stream and stops the consumer. */
  stop(): void;
}

/** A stream that has this much unsent is not reading: drop it. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * Replay at most this many stream sequences after a `Last-Event-ID`; a client further behind gets
 * a reset (reload the state) instead of an unbounded replay.
 */
export const MAX_REPLAY = 1000;
/** How long a stream opened as the server starts waits for the live feed to exist. */
const FOLLOW_WAIT_MS = 5_000;
/** The header, as named in errors. */
const HEADER = 'Last-Event-ID';

/** Why a reconnecting client gets `event: reset` instead of the events it missed. */
export type ResetReason = 'too_old' | 'too_many' | 'unknown';

/**
 * The stream sequence a `Last-Event-ID` names; absent or empty is none. Anything else than
 * digits is refused as `invalid_request` naming the header: ids are only ever sequences.
 */
export function parseLastEventId(header: string | string[] | undefined): number | undefined {
  if (header === undefined || header === '') return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new CountersignError(
      'invalid_request',
      `invalid ${HEADER}: expected the id of an event of this stream`,
      {
        fields: [{ path: HEADER, message: 'must be an event id sent by this stream (a sequence number)' }],
      },
    );
  }
  return value;
}

interface Client {
  res: ServerResponse;
  /** The last stream sequence sent (or covered by a replay or a reset): nothing at or below it is sent. */
  after: number;
  /** Live messages held while the replay runs, sent after it (those it did not cover). */
  held: { seq: number; text: string }[] | undefined;
}

/** One SSE message for a stored or live event; undefined for what is not an event. */
function sseMessage(seq: number, data: Uint8Array): string | undefined {
  const decoded = decodeApprovalEvent(data);
  if (!decoded.ok) return undefined;
  const event = decoded.event;
  // Re-encoded, not forwarded: SSE data must not contain raw newlines, and the encoding has none.
  return `id: ${seq}\nevent: ${event.type}\ndata: ${encodeApprovalEvent(event)}\n\n`;
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

function isEventSubject(subject: string): boolean {
  return subject.startsWith('approval.pending.') || subject.startsWith('approval.decided.');
}

export function startEventHub(options: {
  nc: NatsConnection;
  logger: Logger;
  metrics: ApprovalMetrics;
  heartbeatMs: number;
  /** Open streams at most; one more is refused as `unavailable` (HTTP_SSE_MAX_CLIENTS). */
  maxClients: number;
}): EventHub {
  const maxClients = options.maxClients;
  const log = options.logger.child({ component: 'sse' });
  const clients = new Map<ServerResponse, Client>();
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let jsm: JetStreamManager | undefined;

  const drop = (res: ServerResponse) => {
    if (!clients.delete(res)) return;
    options.metrics.sseClients.set(clients.size);
    if (!res.writableEnded) res.end();
  };

  /** Writes to one client; false when it stopped reading and was dropped. */
  const send = (client: Client, text: string): boolean => {
    if (client.res.writableLength > MAX_BUFFERED_BYTES) {
      log.warn('dropping an event stream that stopped reading');
      drop(client.res);
      client.res.destroy();
      return false;
    }
    client.res.write(text);
    return true;
  };

  const onLive = (seq: number, data: Uint8Array) => {
    if (clients.size === 0) return;
    const text = sseMessage(seq, data);
    if (text === undefined) return;
    for (const client of [...clients.values()]) {
      if (client.held) client.held.push({ seq, text });
      else if (seq > client.after && send(client, text)) client.after = seq;
    }
  };

  // The live feed: an ordered consumer (no state on the server, recreated by the client library
  // after a reconnect from the last sequence it delivered, so a NATS outage leaves no gap).
  let following!: () => void;
  // Resolved once the consumer exists: from then on every event published reaches the hub.
  const followed = new Promise<void>((resolve) => {
    following = resolve;
  });
  const follow = async () => {
    const js = jetstream(options.nc);
    let last = 0;
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(Streams.events, {
          filter_subjects: [Subjects.pendingAll, Subjects.decidedAll],
          ...(last > 0
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: last + 1 }
            : { deliver_policy: DeliverPolicy.New }),
        });
        if (stopped) return;
        messages = await consumer.consume();
        following();
        for await (const m of messages) {
          last = m.seq;
          onLive(m.seq, m.data);
        }
      } catch (err) {
        if (stopped) return;
        log.warn({ err }, 'event stream consumer failed; retrying');
        await delay(1000, undefined);
      }
    }
  };
  void follow();

  const heartbeat = setInterval(() => {
    for (const client of [...clients.values()]) send(client, ': heartbeat\n\n');
  }, options.heartbeatMs);
  heartbeat.unref();

  /**
   * Sends the events after `from` up to `upto` (the stream's last sequence when the client was
   * added, so everything later reaches it live), one stored message at a time.
   */
  const replay = async (client: Client, manager: JetStreamManager, from: number, upto: number) => {
    let seq = from + 1;
    while (seq <= upto && clients.has(client.res)) {
      // The next message at or after `seq` on the event subjects (the leader's copy: a replica
      // serving direct gets may lag behind the sequence just read from the leader).
      const stored = await manager.streams.getMessage(Streams.events, {
        seq,
        next_by_subj: 'approval.>',
      } as unknown as { seq: number });
      if (!stored || stored.seq > upto) break;
      if (isEventSubject(stored.subject)) {
        const text = sseMessage(stored.seq, stored.data);
        if (text !== undefined && !send(client, text)) return;
      }
      client.after = stored.seq;
      seq = stored.seq + 1;
    }
  };

  return {
    attach: async (res, lastEventId) => {
      const from = parseLastEventId(lastEventId);
      if (stopped || clients.size >= maxClients) {
        throw new CountersignError('unavailable', 'too many open event streams; retry later');
      }
      // Only just started: wait for the feed, so that every event after this answer is sent.
      if (!(await Promise.race([followed.then(() => true), delay(FOLLOW_WAIT_MS, false)]))) {
        throw new CountersignError('unavailable', 'the event stream cannot be read yet; retry later');
      }
      // Added before the stream's position is read, holding live events: anything published
      // after that position reaches it live, anything before it comes from the replay.
      const client: Client = { res, after: 0, held: from === undefined ? undefined : [] };
      clients.set(res, client);
      options.metrics.sseClients.set(clients.size);
      res.on('close', () => drop(res));

      let reset: ResetReason | undefined;
      let state: { first_seq: number; last_seq: number } | undefined;
      if (from !== undefined) {
        try {
          jsm ??= await jetstreamManager(options.nc);
          state = (await jsm.streams.info(Streams.events)).state;
        } catch (err) {
          clients.delete(res);
          options.metrics.sseClients.set(clients.size);
          throw new CountersignError(
            'unavailable',
            'the event stream cannot be read; retry later',
            undefined,
            {
              cause: err,
            },
          );
        }
        // Unknown: ahead of the stream (another stream's id, e.g. after it was recreated).
        // Too old: events after it were removed (max age). Too many: over the replay cap.
        if (from > state.last_seq) reset = 'unknown';
        else if (from + 1 < state.first_seq) reset = 'too_old';
        else if (state.last_seq - from > MAX_REPLAY) reset = 'too_many';
      }

      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Connection', 'keep-alive');
      // Reverse proxies (nginx) would otherwise buffer the stream.
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.write('retry: 3000\n: connected\n\n');
      if (from === undefined || !state || !jsm) return;

      if (reset) {
        client.after = state.last_seq;
        send(
          client,
          `event: reset\ndata: ${JSON.stringify({ reason: reset, last_event_id: String(from) })}\n\n`,
        );
      } else {
        client.after = from;
        try {
          await replay(client, jsm, from, state.last_seq);
        } catch (err) {
          // The client reconnects with the last id it got and the replay resumes from there.
          log.warn({ err }, 'event replay failed; ending the stream');
          drop(res);
          return;
        }
        client.after = Math.max(client.after, state.last_seq);
      }
      const held = client.held ?? [];
      client.held = undefined;
      for (const { seq, text } of held) {
        if (!clients.has(res)) return;
        if (seq > client.after && send(client, text)) client.after = seq;
      }
    },
    size: () => clients.size,
    stop: () => {
      stopped = true;
      clearInterval(heartbeat);
      messages?.stop();
      for (const res of [...clients.keys()]) drop(res);
    },
  };
}
