import type { Consumer, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { batches } from './batches.js';
import { type DurableConsumer, ensureDurableConsumer } from './durable-consumer.js';
import type { Logger } from './logger.js';
import { memoStop } from './shutdown.js';
import { backoffDelay, sleeper } from './timing.js';

/**
 * What becomes of one message of a batch, decided by the handler after its work committed:
 * - `ack`: done.
 * - `nak`: redeliver it later, after `delayMs` or, without one, after a backoff that grows with
 *   its deliveries (a dependency is down).
 * - `term`: it can never be handled. It is handed to `deadLetter` with `detail` and terminated
 *   with `reason` only once that has kept it; if keeping it fails, it is retried with backoff,
 *   so nothing is dropped.
 */
export type MessageOutcome<D = unknown> =
  | { kind: 'ack' }
  | { kind: 'nak'; delayMs?: number }
  | { kind: 'term'; reason: string; detail: D };

export interface BatchConsumerOptions<D = unknown> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** The durable consumer, created or brought to these settings at start and after a failure. */
  consumer: DurableConsumer;
  logger: Logger;
  /** Messages per batch at most: messages already buffered together are handled as one. */
  batchSize: number;
  /** Batches handled at once. */
  concurrency: number;
  /** Messages one pull asks for (the prefetch). Default `batchSize * (concurrency + 1)`. */
  pullMaxMessages?: number;
  /**
   * Life of one pull (at least 1000): how long stop() may wait for the pull in progress, and how
   * soon a pull that died silently (its consumer's leader moved in a cluster) is replaced. Default 1000.
   */
  pullExpiresMs?: number;
  /** Backoff of a message nak'ed without a delay, by its deliveries: first delay and cap. */
  retry: { baseMs: number; maxMs: number };
  /** Wait at start until the stream exists, instead of failing (another service creates it). */
  waitForStream?: boolean;
  /**
   * Handles a batch; answers one outcome per message, in order. Messages are settled after it
   * returns, so an ack follows the commit. A throw is a bug: the whole batch is retried.
   */
  handle(batch: readonly JsMsg[]): Promise<readonly MessageOutcome<D>[]>;
  /** Keeps a message that is terminated (a dead-letter record); a throw retries the message later. */
  deadLetter(msg: JsMsg, outcome: { reason: string; detail: D }): Promise<void>;
}

export interface BatchConsumer {
  /** Stops pulling, hands back unstarted messages (nak), waits for batches in flight. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Consumes a durable JetStream consumer in batches. One bounded pull at a time, always read to
 * its end (batch full or pull expired): every message the server hands out is then either
 * handled or handed back with nak, so a graceful stop leaves nothing to wait out the ack wait.
 * (Closing a consume() iterator drops what it buffered.) Messages that arrived together form a
 * batch, up to `batchSize`; a lone message goes alone, so latency stays low when idle. Up to
 * `concurrency` batches run at once. A failed pull is retried with backoff, forever.
 */
export async function startBatchConsumer<D>(options: BatchConsumerOptions<D>): Promise<BatchConsumer> {
  const { js, jsm, stream, consumer: durable, logger: log } = options;
  await ensureDurableConsumer(
    jsm,
    stream,
    durable,
    options.waitForStream ? { waitForStream: { logger: log } } : {},
  );
  const pullExpiresMs = options.pullExpiresMs ?? 1000;
  const pullMaxMessages = options.pullMaxMessages ?? options.batchSize * (options.concurrency + 1);
  // Delayed past the end of the pull being closed, or the server would redeliver a message
  // handed back at stop straight into that pull.
  const stopNakDelay = pullExpiresMs + 100;
  const inflight = new Set<Promise<void>>();
  const pause = sleeper();
  let stopping = false;

  const retryDelay = (msg: JsMsg) =>
    backoffDelay(msg.info.deliveryCount, options.retry.baseMs, options.retry.maxMs);

  const terminate = async (msg: JsMsg, outcome: { reason: string; detail: D }): Promise<void> => {
    try {
      await options.deadLetter(msg, outcome);
    } catch (err) {
      const delay = retryDelay(msg);
      log.warn(
        { err, stream_seq: msg.seq, retry_in_ms: delay },
        'could not dead-letter a message; will retry',
      );
      msg.nak(delay);
      return;
    }
    msg.term(outcome.reason);
  };

  const settle = (msg: JsMsg, outcome: MessageOutcome<D> | undefined): Promise<void> | undefined => {
    switch (outcome?.kind) {
      case 'ack':
        msg.ack();
        return;
      case 'nak':
        msg.nak(outcome.delayMs ?? retryDelay(msg));
        return;
      case 'term':
        return terminate(msg, outcome);
      default:
        // A handler that answered fewer outcomes than messages: retry the rest.
        msg.nak(retryDelay(msg));
    }
  };

  const run = async (batch: readonly JsMsg[]): Promise<void> => {
    let outcomes: readonly MessageOutcome<D>[];
    try {
      outcomes = await options.handle(batch);
    } catch (err) {
      log.error({ err, messages: batch.length }, 'batch handler failed; retrying its messages');
      for (const msg of batch) msg.nak(retryDelay(msg));
      return;
    }
    try {
      await Promise.all(batch.map((msg, i) => settle(msg, outcomes[i])));
    } catch (err) {
      // An ack or nak on a closed connection: the server redelivers after the ack wait.
      log.error({ err, messages: batch.length }, 'could not settle a batch');
    }
  };

  const dispatch = (batch: readonly JsMsg[]) => {
    if (stopping) {
      for (const msg of batch) msg.nak(stopNakDelay);
      return;
    }
    const tracked: Promise<void> = run(batch).finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const loop = async () => {
    let failures = 0;
    let consumer: Consumer | undefined;
    while (!stopping) {
      try {
        consumer ??= await js.consumers.get(stream, durable.name);
        const pull = await consumer.fetch({ max_messages: pullMaxMessages, expires: pullExpiresMs });
        for await (const batch of batches(pull, options.batchSize)) {
          failures = 0;
          while (inflight.size >= options.concurrency) await Promise.race(inflight);
          dispatch(batch);
        }
      } catch (err) {
        if (stopping) break;
        consumer = undefined;
        failures++;
        const delay = backoffDelay(failures, 200, 5_000);
        log.warn({ err, retry_in_ms: delay }, 'consumer pull failed; restarting');
        await pause.sleep(delay);
        try {
          await ensureDurableConsumer(jsm, stream, durable);
        } catch (ensureErr) {
          log.warn({ err: ensureErr }, 'could not ensure the durable consumer');
        }
      }
    }
  };

  const done = loop();
  return {
    stop: memoStop(async () => {
      stopping = true;
      pause.wake();
      // The current pull ends by itself within its expiry; what it still brings is nak'ed.
      await done;
      await Promise.allSettled([...inflight]);
    }),
  };
}
