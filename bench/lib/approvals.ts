/**
 * End-to-end load: approval requests published to the intake stream as a requester would, and
 * the events they lead to counted as a subscriber would. Shared by the end-to-end and the scale
 * scenarios.
 */
import { Subjects } from '@countersign/contracts';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { openLoop, sleep, waitUntil } from './load.js';

/** What share of the mix ends how: most requests are decided by the policy at once. */
export const MIX = {
  autoApproved: 0.75,
  denied: 0.03,
  invalid: 0.02,
  needsPeople: 0.2,
} as const;

const REQUESTERS = ['ci-bot', 'dave', 'erin', 'bob', 'billing-job'];

/**
 * Request number `i` of a realistic mix (deterministic, so runs are comparable): 75 % are
 * auto-approved (small payments, staging deploys, exports), 20 % need people (larger payments,
 * production deploys, deletes), 3 % are denied (over the payment limit) and 2 % are invalid
 * (a negative amount: recorded as rejected so their waiter learns why).
 */
export function mixedRequest(
  actionId: string,
  i: number,
): Record<string, unknown> & { requested_by: string } {
  const bucket = i % 100;
  const base = {
    action_id: actionId,
    requested_by: REQUESTERS[i % REQUESTERS.length] as string,
    run_id: `run-${Math.floor(i / 10)}`,
  };
  if (bucket < 40) {
    const amount = 10 + ((i * 7) % 480);
    return {
      ...base,
      action_type: 'payment',
      description: `Pay invoice ${i} to ACME Corp`,
      context: { amount, currency: 'EUR', resource: `invoice/${i}` },
    };
  }
  if (bucket < 60) {
    return {
      ...base,
      action_type: 'deploy',
      description: `Deploy build ${i} of the web app`,
      context: { environment: 'staging', resource: `web@${i}` },
    };
  }
  if (bucket < 75) {
    return {
      ...base,
      action_type: 'report_export',
      description: `Export the monthly report ${i}`,
      context: { resource: `reports/${i}` },
    };
  }
  if (bucket < 85) {
    return {
      ...base,
      action_type: 'payment',
      description: `Pay invoice ${i} to Globex`,
      context: { amount: 500 + ((i * 13) % 9000), currency: 'EUR', resource: `invoice/${i}` },
    };
  }
  if (bucket < 90) {
    return {
      ...base,
      action_type: 'deploy',
      description: `Deploy build ${i} to production`,
      context: { environment: 'production', resource: `web@${i}` },
    };
  }
  if (bucket < 95) {
    return {
      ...base,
      action_type: 'user_delete',
      description: `Delete inactive user ${i}`,
      context: { resource: `users/${i}` },
    };
  }
  if (bucket < 98) {
    return {
      ...base,
      action_type: 'transfer',
      description: `Transfer ${i} to an external account`,
      context: { amount: 2_000_000, currency: 'EUR' },
    };
  }
  return {
    ...base,
    action_type: 'refund',
    description: `Refund order ${i}`,
    context: { amount: -5, currency: 'EUR' },
  };
}

/**
 * Counts the first event of each request of the current batch (`approval.decided.<id>` when
 * the policy decided at once, `approval.pending.<id>` when people must), with its latency from
 * the request's intended send time. Core subscriptions: the bench sees exactly what any
 * subscriber sees, without adding a consumer to the stream.
 */
export class EventTracker {
  #prefix = '';
  #intended = new Float64Array(0);
  #seen = new Uint8Array(0);
  #subs: Subscription[];
  firstEvents = 0;
  decided: number[] = [];
  pending: number[] = [];

  constructor(nc: NatsConnection) {
    const on = (kind: 'decided' | 'pending') => (_err: unknown, msg: { subject: string }) =>
      this.#record(kind, msg.subject);
    this.#subs = [
      nc.subscribe(Subjects.decidedAll, { callback: on('decided') }),
      nc.subscribe(Subjects.pendingAll, { callback: on('pending') }),
    ];
  }

  /** Starts a batch of `capacity` requests whose ids are `<prefix>-<i>`. */
  begin(prefix: string, capacity: number): void {
    this.#prefix = `${prefix}-`;
    this.#intended = new Float64Array(capacity);
    this.#seen = new Uint8Array(capacity);
    this.firstEvents = 0;
    this.decided = [];
    this.pending = [];
  }

  id(i: number): string {
    return `${this.#prefix}${i}`;
  }

  sent(i: number, intendedAt: number): void {
    this.#intended[i] = intendedAt;
  }

  #record(kind: 'decided' | 'pending', subject: string): void {
    const now = performance.now();
    const id = subject.slice(subject.indexOf('.', 'approval.'.length) + 1);
    if (!id.startsWith(this.#prefix)) return;
    const i = Number(id.slice(this.#prefix.length));
    if (!Number.isInteger(i) || i >= this.#seen.length || this.#seen[i]) return;
    this.#seen[i] = 1;
    this.firstEvents++;
    (kind === 'decided' ? this.decided : this.pending).push(now - (this.#intended[i] ?? now));
  }

  unsubscribe(): void {
    for (const sub of this.#subs) sub.unsubscribe();
  }
}

const encoder = new TextEncoder();

export class Publisher {
  readonly js: JetStreamClient;
  inflight = 0;
  errors = 0;
  firstError: unknown;

  constructor(
    nc: NatsConnection,
    readonly tracker: EventTracker,
  ) {
    this.js = jetstream(nc);
  }

  /** Publishes request `i` to the intake as the SDK does (Nats-Msg-Id = action_id). */
  publish(i: number, intendedAt = performance.now()): void {
    const id = this.tracker.id(i);
    this.tracker.sent(i, intendedAt);
    this.inflight++;
    const request = mixedRequest(id, i);
    this.js
      .publish(Subjects.requestedBy(request.requested_by), encoder.encode(JSON.stringify(request)), {
        msgID: id,
        timeout: 30_000,
      })
      .then(
        () => this.inflight--,
        (err: unknown) => {
          this.inflight--;
          this.errors++;
          this.firstError ??= err;
        },
      );
  }
}

export interface SaturationResult {
  /** First events per second over the measured window (after the warm-up). */
  perSecond: number;
  /** Events and seconds of the measured window. */
  windowEvents: number;
  windowSeconds: number;
  /** Requests published and events received in total (the window and the rest). */
  published: number;
  received: number;
  /** Seconds until the backlog was processed after publishing stopped. */
  drainSeconds: number;
  publishErrors: number;
}

/**
 * Saturation: publishes as fast as the system takes requests, keeping at most `maxBacklog`
 * requests published but not yet answered by an event (and `window` PubAcks outstanding), so
 * the service always has work but the stream does not grow without bound. Counts events over
 * `seconds` after `warmupSeconds`; `onWindow` brackets the measured window (profiling).
 */
export async function saturate(options: {
  publisher: Publisher;
  prefix: string;
  seconds: number;
  warmupSeconds: number;
  maxBacklog: number;
  window: number;
  onWindow?: { start(): unknown; stop(): unknown };
}): Promise<SaturationResult> {
  const { publisher } = options;
  const tracker = publisher.tracker;
  const total = options.warmupSeconds + options.seconds;
  // A cap on count as well as time: never more than 20,000 requests per second of run.
  const capacity = Math.ceil(total * 20_000);
  tracker.begin(options.prefix, capacity);
  publisher.errors = 0;
  const start = performance.now();
  const windowStart = start + options.warmupSeconds * 1000;
  const end = start + total * 1000;
  let i = 0;
  let windowOpen = false;
  let windowEvents = 0;
  let windowBegan = 0;
  while (i < capacity) {
    const now = performance.now();
    if (!windowOpen && now >= windowStart) {
      windowOpen = true;
      await options.onWindow?.start();
      windowEvents = tracker.firstEvents;
      windowBegan = performance.now();
    }
    if (now >= end) break;
    if (publisher.inflight >= options.window || i - tracker.firstEvents >= options.maxBacklog) {
      await sleep(1);
      continue;
    }
    publisher.publish(i++);
    // Let replies and events in every few publishes.
    if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const windowSeconds = (performance.now() - windowBegan) / 1000;
  const counted = tracker.firstEvents - windowEvents;
  await options.onWindow?.stop();
  const drainStart = performance.now();
  await waitUntil(() => tracker.firstEvents >= i - publisher.errors, 120_000);
  return {
    perSecond: counted / windowSeconds,
    windowEvents: counted,
    windowSeconds,
    published: i,
    received: tracker.firstEvents,
    drainSeconds: (performance.now() - drainStart) / 1000,
    publishErrors: publisher.errors,
  };
}

/**
 * A fixed rate for `seconds`: each request's latency runs from its scheduled send time to its
 * first event. Waits (bounded) for the last events before returning.
 */
export async function fixedRate(options: {
  publisher: Publisher;
  prefix: string;
  rate: number;
  seconds: number;
}): Promise<{ sent: number; received: number; decided: number[]; pending: number[]; publishErrors: number }> {
  const { publisher } = options;
  const tracker = publisher.tracker;
  tracker.begin(options.prefix, Math.ceil(options.rate * options.seconds) + 1);
  publisher.errors = 0;
  const { sent } = await openLoop({
    rate: options.rate,
    seconds: options.seconds,
    fire: (i, intendedAt) => publisher.publish(i, intendedAt),
  });
  await waitUntil(() => tracker.firstEvents >= sent - publisher.errors, 60_000);
  return {
    sent,
    received: tracker.firstEvents,
    decided: tracker.decided,
    pending: tracker.pending,
    publishErrors: publisher.errors,
  };
}
