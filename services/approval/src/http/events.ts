/**
 * Server-sent events for the dashboard: one NATS subscription per event subject, shared by every
 * open stream, fans `approval.pending.*` and `approval.decided.*` out as SSE messages. Streams
 * get a comment line every heartbeat so idle proxies keep them open, and are dropped when the
 * client goes away or stops reading (its buffer would otherwise grow without bound).
 */
import type { ServerResponse } from 'node:http';
import { CountersignError, decodeApprovalEvent, encodeApprovalEvent, Subjects } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { ApprovalMetrics } from '../metrics.js';

export interface EventHub {
  /** Takes over the response as an event stream until the client leaves or the hub stops. */
  attach(res: ServerResponse): void;
  /** Open streams. */
  size(): number;
  /** Ends every stream and unsubscribes. */
  stop(): void;
}

/** A stream that has this much unsent is not reading: drop it. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

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
  const clients = new Set<ServerResponse>();

  const drop = (res: ServerResponse) => {
    if (!clients.delete(res)) return;
    options.metrics.sseClients.set(clients.size);
    if (!res.writableEnded) res.end();
  };

  const broadcast = (text: string) => {
    for (const res of clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        log.warn('dropping an event stream that stopped reading');
        drop(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  };

  const onMessage = (data: Uint8Array) => {
    if (clients.size === 0) return;
    const decoded = decodeApprovalEvent(data);
    if (!decoded.ok) return;
    const event = decoded.event;
    // Re-encoded, not forwarded: SSE data must not contain raw newlines, and the encoding has none.
    broadcast(`id: ${event.id}\nevent: ${event.type}\ndata: ${encodeApprovalEvent(event)}\n\n`);
  };

  const subscriptions: Subscription[] = [Subjects.pendingAll, Subjects.decidedAll].map((subject) =>
    options.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) log.warn({ err, subject }, 'event subscription failed');
        else onMessage(msg.data);
      },
    }),
  );

  const heartbeat = setInterval(() => broadcast(': heartbeat\n\n'), options.heartbeatMs);
  heartbeat.unref();

  return {
    attach: (res) => {
      if (clients.size >= maxClients) {
        throw new CountersignError('unavailable', 'too many open event streams; retry later');
      }
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Connection', 'keep-alive');
      // Reverse proxies (nginx) would otherwise buffer the stream.
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.write('retry: 3000\n: connected\n\n');
      clients.add(res);
      options.metrics.sseClients.set(clients.size);
      res.on('close', () => drop(res));
    },
    size: () => clients.size,
    stop: () => {
      clearInterval(heartbeat);
      for (const sub of subscriptions) sub.unsubscribe();
      for (const res of [...clients]) drop(res);
    },
  };
}
