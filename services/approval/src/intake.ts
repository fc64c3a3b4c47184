import {
  ActionId,
  ApprovalRequest,
  CountersignError,
  decodeJson,
  type ErrorCode,
  type InvalidMessageEvent,
  invalidRequest,
  MAX_PAYLOAD_BYTES,
  Streams,
  Subjects,
} from '@countersign/contracts';
import {
  actorOfSubject,
  coerceError,
  contextFromHeaders,
  contextOf,
  type DurableConsumer,
  type Logger,
  type MessageOutcome,
  type Span,
  SpanKind,
  startBatchConsumer,
  startSpan,
  type TraceContext,
  tracingEnabled,
} from '@countersign/runtime';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { z } from 'zod';
import {
  admissionRefusal,
  bindActor,
  type LifecycleDeps,
  type SubmitItem,
  type SubmitOutcome,
  submitMany,
} from './lifecycle/index.js';
import { iso } from './records.js';

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
  // The common case first, in one schema pass: a valid request has a valid action_id, so the
  // Addressable pass below is only for telling an invalid message's requester why.
  let invalid: CountersignError | undefined;
  if (refused === undefined) {
    const parsed = ApprovalRequest.safeParse(value);
    if (parsed.success) return { kind: 'item', item: { kind: 'request', request: parsed.data } };
    invalid = invalidRequest(parsed.error);
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
  // Not refused, so the request pass above ran, and failed.
  return {
    kind: 'item',
    item: { kind: 'invalid', action_id, raw: value, error: invalid as CountersignError },
  };
}

/**
 * Binds a classified intake item to the identity its subject proves
 * (`approval.requested.<identity>`: NATS lets each user publish only under its own). A request
 * whose requester cannot be proven, is unknown, names someone else or may not ask for this action
 * type is recorded as rejected with that reason, under the proven identity (never the claimed
 * one), so its waiter learns why and no record names someone who did not ask.
 */
export function bindIntakeItem(
  deps: Pick<LifecycleDeps, 'directory'>,
  subject: string,
  item: SubmitItem,
): SubmitItem {
  let actor: string | undefined;
  let refusal: CountersignError | undefined;
  if (subject === Subjects.requested) {
    const message = `publish to ${Subjects.requestedBy('<your identity>')}: the subject says who asks`;
    refusal = new CountersignError('forbidden', message, {
      reasons: [{ code: 'identity_required', message }],
    });
  } else {
    try {
      actor = actorOfSubject(Subjects.requested, subject);
    } catch (err) {
      refusal = err as CountersignError;
    }
  }
  const raw = item.kind === 'request' ? item.request : item.raw;
  const asProven = (value: unknown): unknown => {
    const { requested_by: _claimed, ...rest } =
      value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    return actor === undefined ? rest : { ...rest, requested_by: actor };
  };
  if (item.kind === 'invalid') return { ...item, raw: asProven(item.raw) };
  if (!refusal && actor !== undefined) {
    try {
      bindActor(deps, actor, 'requested_by', item.request.requested_by);
      refusal = admissionRefusal(deps, item.request);
    } catch (err) {
      refusal = err as CountersignError;
    }
  }
  if (refusal)
    return { kind: 'invalid', action_id: item.request.action_id, raw: asProven(raw), error: refusal };
  return item;
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

/** The durable consumer's settings, applied at every start. */
function intakeConsumer(options: Pick<IntakeOptions, 'ackWaitMs' | 'maxAckPending'>): DurableConsumer {
  return {
    name: INTAKE_CONSUMER,
    description: 'approval service intake: one approval per approval.requested message',
    ackWaitMs: options.ackWaitMs,
    maxAckPending: options.maxAckPending,
  };
}

/**
 * Consumes approval.requested in batches (up to `batchSize` per database transaction and per
 * pipelined burst of policy requests), `concurrency` batches at once. Each message is acked only
 * after its batch committed, nak'ed with backoff when a dependency is down, and terminated only
 * after its dead-letter event was acked by JetStream: nothing is dropped.
 */
export async function startIntake(options: IntakeOptions): Promise<Intake> {
  const log = options.logger.child({ component: 'intake' });

  const deadLetter = async (msg: JsMsg, { detail: error }: { detail: CountersignError }): Promise<void> => {
    const event = invalidMessageEvent(msg.data, error, msg.time);
    // Msg id from the stream sequence: a re-delivery after a crash is deduplicated.
    await options.js.publish(Subjects.invalid, JSON.stringify(event), { msgID: `invalid-${msg.seq}` });
    options.onError?.(error.code, 'dead_lettered');
    log.warn({ seq: msg.seq, code: error.code, message: error.message }, 'message dead-lettered');
  };

  const dispose = (error: CountersignError): MessageOutcome<CountersignError> => ({
    kind: 'term',
    reason: error.code,
    detail: error,
  });

  const settle = (msg: JsMsg, outcome: SubmitOutcome | undefined): MessageOutcome<CountersignError> => {
    switch (outcome?.kind) {
      case 'created':
        // Debug: one line per approval at info level is a measurable CPU cost under load.
        log.debug(
          { action_id: outcome.approval.action_id, status: outcome.approval.status },
          'approval recorded',
        );
        return { kind: 'ack' };
      case 'duplicate':
        log.debug({ action_id: outcome.action_id }, 'already recorded with the same content');
        return { kind: 'ack' };
      case 'conflict':
        log.warn(
          { action_id: outcome.action_id },
          'idempotency conflict: different content for a recorded action_id',
        );
        return { kind: 'ack' };
      case 'deferred':
        return { kind: 'nak', delayMs: options.retryBaseMs };
      case 'retry':
        if (outcome.poison && msg.info.deliveryCount >= options.poisonAttempts) {
          // It failed to store on its own, several times: keep it, where people can see it.
          return dispose(outcome.error);
        }
        log.warn(
          { seq: msg.seq, code: outcome.error.code, deliveries: msg.info.deliveryCount },
          'submission not recorded; retrying later',
        );
        options.onError?.(outcome.error.code, 'retried');
        return { kind: 'nak' };
      default:
        return { kind: 'nak' };
    }
  };

  const handle = async (batch: readonly JsMsg[]): Promise<MessageOutcome<CountersignError>[]> => {
    if (!tracingEnabled()) return handleBatch(batch, undefined);
    // One consumer span per message, in the trace its requester's headers carry; it stays open
    // until the batch is written, and its approval keeps it as the trace of its decision.
    const spans = batch.map((msg) =>
      startSpan(`${Subjects.requested} process`, {
        kind: SpanKind.CONSUMER,
        parent: contextFromHeaders(msg.headers),
        attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject },
      }),
    );
    try {
      const outcomes = await handleBatch(batch, spans);
      for (const [i, span] of spans.entries())
        span?.setAttribute('countersign.outcome', outcomes[i]?.kind ?? 'nak');
      return outcomes;
    } finally {
      for (const span of spans) span?.end();
    }
  };

  const handleBatch = async (
    batch: readonly JsMsg[],
    spans: readonly (Span | undefined)[] | undefined,
  ): Promise<MessageOutcome<CountersignError>[]> => {
    const outcomes: MessageOutcome<CountersignError>[] = new Array(batch.length);
    const addressable: { index: number; item: SubmitItem; trace?: TraceContext }[] = [];
    for (const [index, msg] of batch.entries()) {
      const c = classify(msg.data);
      // Without an action_id nobody waits for an answer: it can only be dead-lettered.
      if (c.kind === 'unaddressable') {
        outcomes[index] = dispose(c.error);
        continue;
      }
      const item = bindIntakeItem(options.deps, msg.subject, c.item);
      const trace = contextOf(spans?.[index]);
      addressable.push(trace ? { index, item, trace } : { index, item });
      // Addressable but invalid: it is recorded as rejected, so its waiter learns why.
      if (item.kind === 'invalid') options.onError?.(item.error.code, 'rejected');
    }
    if (addressable.length > 0) {
      const submitted = await submitMany(
        options.deps,
        addressable.map((a) => a.item),
        spans && addressable.map((a) => a.trace),
      );
      for (const [i, { index }] of addressable.entries()) {
        outcomes[index] = settle(batch[index] as JsMsg, submitted[i]);
      }
    }
    return outcomes;
  };

  return startBatchConsumer({
    js: options.js,
    jsm: options.jsm,
    stream: Streams.requests,
    consumer: intakeConsumer(options),
    logger: log,
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    pullExpiresMs: options.pullExpiresMs,
    retry: { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs },
    handle,
    deadLetter,
  });
}
