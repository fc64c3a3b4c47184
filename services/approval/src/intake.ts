import {
  ActionId,
  ApprovalRequest,
  type CountersignError,
  decodeJson,
  type ErrorCode,
  type InvalidMessageEvent,
  invalidRequest,
  MAX_PAYLOAD_BYTES,
  Streams,
  Subjects,
} from '@countersign/contracts';
import { coerceError, type Logger } from '@countersign/runtime';
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { z } from 'zod';
import { type LifecycleDeps, type SubmitItem, type SubmitOutcome, submitMany } from './lifecycle/index.js';
import { iso } from './records.js';
import { backoffDelay, sleeper } from './timing.js';

/** The durable pull consumer every replica shares (work queue: each message to one of them). */
export const INTAKE_CONSUMER = 'approval-intake';

export interface IntakeOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  deps: LifecycleDeps;
  logger: Logger;
  /** Messages per database transaction (and per pipelined burst of policy requests). */
  batchSize: number;
  /** Batches in flight at once. */
  concurrency: number;
  /** Redelivery delay of a message nobody acked (a crashed replica's). */
  ackWaitMs: number;
  /** Unacked messages the server hands out to all replicas together. */
  maxAckPending: number;
  /** Backoff of a retried message (policy or database down): first delay and cap. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Deliveries after which a message that cannot be stored is dead-lettered to approval.invalid. */
  poisonAttempts: number;
  /** How long one pull waits for messages before the next one is issued; bounds stop(). Default 1000. */
  pullExpiresMs?: number;
  /** Told about every message that fails (metrics count them by code and disposition). */
  onError?: (code: ErrorCode, disposition: 'retried' | 'rejected' | 'dead_lettered') => void;
}

export interface Intake {
  /** Stops pulling, hands back unstarted messages (nak), waits for batches in flight. */
  stop(): Promise<void>;
}

export type Classified =
  | { kind: 'unaddressable'; error: CountersignError }
  | { kind: 'item'; item: SubmitItem };

const Addressable = z.object({ action_id: ActionId });
const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Reads one intake message. Without a valid action_id (not JSON, not an object, bad id) it can
 * only be dead-lettered; with one, it is either a valid request or an addressable invalid one
 * that gets decided `rejected` so its waiter learns why. An oversized or too deeply nested
 * message is still read for its action_id, so its requester gets an answer too.
 */
export function classify(data: Uint8Array): Classified {
  let value: unknown;
  // Valid JSON that decodeJson still refuses: too large, or nested too deeply to walk.
  let refused: CountersignError | undefined;
  try {
    value = decodeJson(data);
  } catch (err) {
    refused = coerceError(err);
    try {
      value = JSON.parse(decoder.decode(data));
    } catch {
      return { kind: 'unaddressable', error: refused };
    }
  }
  const addressed = Addressable.safeParse(value);
  if (!addressed.success) return { kind: 'unaddressable', error: refused ?? invalidRequest(addressed.error) };
  const action_id = addressed.data.action_id;
  if (refused?.code === 'payload_too_large') {
    return { kind: 'item', item: { kind: 'invalid', action_id, raw: value, error: refused } };
  }
  if (refused) {
    // Too deep to hash or store: only the top-level scalars are kept for its record.
    const shallow = Object.fromEntries(
      Object.entries(value as Record<string, unknown>).filter(([, v]) => v === null || typeof v !== 'object'),
    );
    return { kind: 'item', item: { kind: 'invalid', action_id, raw: shallow, error: refused } };
  }
  const parsed = ApprovalRequest.safeParse(value);
  if (!parsed.success) {
    return {
      kind: 'item',
      item: { kind: 'invalid', action_id, raw: value, error: invalidRequest(parsed.error) },
    };
  }
  return { kind: 'item', item: { kind: 'request', request: parsed.data } };
}

/** The dead-letter event for a message: its error and its text (capped at the payload limit). */
export function invalidMessageEvent(
  data: Uint8Array,
  error: CountersignError,
  receivedAt: Date,
): InvalidMessageEvent {
  const truncated = data.byteLength > MAX_PAYLOAD_BYTES;
  const body = error.toBody().error;
  return {
    error: truncated
      ? { ...body, details: { ...body.details, raw_bytes: data.byteLength, raw_truncated: true } }
      : body,
    raw: decoder.decode(truncated ? data.subarray(0, MAX_PAYLOAD_BYTES) : data),
    received_at: iso(receivedAt),
  };
}

const NANOS_PER_MS = 1_000_000;

/** Creates the durable consumer, or brings an existing one to this configuration. */
export async function ensureIntakeConsumer(
  jsm: JetStreamManager,
  options: Pick<IntakeOptions, 'ackWaitMs' | 'maxAckPending'>,
): Promise<void> {
  const wanted = {
    description: 'approval service intake: one approval per approval.requested message',
    ack_wait: options.ackWaitMs * NANOS_PER_MS,
    // Unlimited: a message is retried (with our own nak backoff) until it is recorded or
    // dead-lettered, never dropped because a dependency stayed down for long.
    max_deliver: -1,
    max_ack_pending: options.maxAckPending,
  } satisfies Partial<ConsumerConfig>;
  try {
    const info = await jsm.consumers.info(Streams.requests, INTAKE_CONSUMER);
    const c = info.config;
    if (
      c.ack_wait !== wanted.ack_wait ||
      c.max_deliver !== wanted.max_deliver ||
      c.max_ack_pending !== wanted.max_ack_pending
    ) {
      await jsm.consumers.update(Streams.requests, INTAKE_CONSUMER, wanted);
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    // Another replica may add it at the same time: adding an identical consumer is idempotent.
    await jsm.consumers.add(Streams.requests, {
      ...wanted,
      durable_name: INTAKE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
  }
}

/**
 * Pulls approval.requested with bounded prefetch, groups what is already buffered into batches
 * (up to `batchSize`; a lone message goes alone, so latency stays low when idle), and runs up to
 * `concurrency` batches at once. Each message is acked only after its batch committed, nak'ed
 * with backoff when a dependency is down, and terminated only after its dead-letter event was
 * acked by JetStream: nothing is dropped.
 */
export async function startIntake(options: IntakeOptions): Promise<Intake> {
  const log = options.logger.child({ component: 'intake' });
  await ensureIntakeConsumer(options.jsm, options);
  const inflight = new Set<Promise<void>>();
  const pause = sleeper();
  let stopping = false;

  const retryDelay = (msg: JsMsg) =>
    backoffDelay(msg.info.deliveryCount, options.retryBaseMs, options.retryMaxMs);

  const deadLetter = async (msg: JsMsg, error: CountersignError): Promise<void> => {
    const event = invalidMessageEvent(msg.data, error, msg.time);
    try {
      // Msg id from the stream sequence: a re-delivery after a crash is deduplicated.
      await options.js.publish(Subjects.invalid, JSON.stringify(event), { msgID: `invalid-${msg.seq}` });
      msg.term(error.code);
      options.onError?.(error.code, 'dead_lettered');
      log.warn(
        { seq: msg.seq, code: error.code, message: error.message },
        'unaddressable message dead-lettered',
      );
    } catch (err) {
      log.warn({ err, seq: msg.seq }, 'could not publish to approval.invalid; will retry');
      msg.nak(retryDelay(msg));
    }
  };

  const settle = async (msg: JsMsg, outcome: SubmitOutcome | undefined): Promise<void> => {
    switch (outcome?.kind) {
      case 'created':
        msg.ack();
        log.info(
          { action_id: outcome.approval.action_id, status: outcome.approval.status },
          'approval recorded',
        );
        return;
      case 'duplicate':
        msg.ack();
        log.debug({ action_id: outcome.action_id }, 'already recorded with the same content');
        return;
      case 'conflict':
        msg.ack();
        log.warn(
          { action_id: outcome.action_id },
          'idempotency conflict: different content for a recorded action_id',
        );
        return;
      case 'deferred':
        msg.nak(options.retryBaseMs);
        return;
      case 'retry':
        if (outcome.poison && msg.info.deliveryCount >= options.poisonAttempts) {
          // It failed to store on its own, several times: keep it, where people can see it.
          await deadLetter(msg, outcome.error);
          return;
        }
        log.warn(
          { seq: msg.seq, code: outcome.error.code, deliveries: msg.info.deliveryCount },
          'submission not recorded; retrying later',
        );
        options.onError?.(outcome.error.code, 'retried');
        msg.nak(retryDelay(msg));
        return;
      default:
        msg.nak(retryDelay(msg));
    }
  };

  const processBatch = async (batch: JsMsg[]): Promise<void> => {
    const unaddressable: { msg: JsMsg; error: CountersignError }[] = [];
    const addressable: { msg: JsMsg; item: SubmitItem }[] = [];
    for (const msg of batch) {
      const c = classify(msg.data);
      if (c.kind === 'unaddressable') unaddressable.push({ msg, error: c.error });
      else addressable.push({ msg, item: c.item });
      // Addressable but invalid: it is recorded as rejected, so its waiter learns why.
      if (c.kind === 'item' && c.item.kind === 'invalid') options.onError?.(c.item.error.code, 'rejected');
    }
    const submitted = (async () => {
      if (addressable.length === 0) return;
      const outcomes = await submitMany(
        options.deps,
        addressable.map((a) => a.item),
      );
      await Promise.all(addressable.map((a, i) => settle(a.msg, outcomes[i])));
    })();
    await Promise.all([...unaddressable.map((u) => deadLetter(u.msg, u.error)), submitted]);
  };

  const dispatch = (batch: JsMsg[]) => {
    const run = processBatch(batch).catch((err: unknown) => {
      // submitMany reports failures as outcomes; reaching here is a bug. Retry the messages.
      log.error({ err }, 'intake batch failed');
      for (const msg of batch) msg.nak(retryDelay(msg));
    });
    const tracked: Promise<void> = run.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const pullExpiresMs = options.pullExpiresMs ?? 1000;
  const stopNakDelay = pullExpiresMs + 100;
  const dispatchOrReturn = (batch: JsMsg[]) => {
    if (batch.length === 0) return;
    if (stopping) for (const msg of batch) msg.nak(stopNakDelay);
    else dispatch(batch);
  };

  const loop = async () => {
    let failures = 0;
    while (!stopping) {
      try {
        const consumer = await options.js.consumers.get(Streams.requests, INTAKE_CONSUMER);
        // One bounded pull at a time, always read to its end (batch full or pull expired): every
        // message the server hands us is then either processed or handed back with nak. Closing
        // a consume() iterator on shutdown would drop its buffer, and those messages would sit
        // out ack_wait before another replica could take them.
        const pull = await consumer.fetch({
          max_messages: options.batchSize * (options.concurrency + 1),
          expires: pullExpiresMs,
        });
        let batch: JsMsg[] = [];
        for await (const msg of pull) {
          if (stopping) {
            // Buffered but not started: hand it back for another replica. Delayed past this
            // pull's end, or the server would redeliver it straight into the pull we are closing.
            msg.nak(stopNakDelay);
            continue;
          }
          failures = 0;
          batch.push(msg);
          if (batch.length >= options.batchSize || pull.getPending() === 0) {
            const ready = batch;
            batch = [];
            while (inflight.size >= options.concurrency) await Promise.race(inflight);
            dispatchOrReturn(ready);
          }
        }
        dispatchOrReturn(batch);
      } catch (err) {
        if (stopping) break;
        failures++;
        const delay = backoffDelay(failures, 200, 5_000);
        log.warn({ err, retry_in_ms: delay }, 'intake consumer failed; restarting');
        await pause.sleep(delay);
        try {
          await ensureIntakeConsumer(options.jsm, options);
        } catch (ensureErr) {
          log.warn({ err: ensureErr }, 'could not ensure the intake consumer');
        }
      }
    }
  };

  const done = loop();
  return {
    stop: async () => {
      stopping = true;
      pause.wake();
      // The current pull ends by itself within its expiry; its remaining messages are nak'ed.
      await done;
      await Promise.allSettled([...inflight]);
    },
  };
}
