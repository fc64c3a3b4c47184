/**
 * A steady, bounded load of approval requests and decisions, as well-behaved clients send it
 * while things fail: each request follows a plan (auto-approve, deny, invalid, one or two
 * approvers, a rejection, a cancel, an expiry, a decide racing a cancel), retries what
 * answered `unavailable` or timed out (idempotently: the same action_id and content, the same
 * decider), and remembers what the system acknowledged. The invariant checker holds the
 * system to those acknowledgements.
 */
import {
  type ApprovalRequestInput,
  type ApprovalStatus,
  CountersignError,
  type EndpointName,
  type RequestOf,
  type ResponseOf,
  Subjects,
} from '@countersign/contracts';
import { call as commandAs } from '@countersign/test-fixtures';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Expectation } from './invariants.js';

/** Who asks: a person of the test directory, who may request any action type. */
const REQUESTER = 'dave';

type Plan = 'auto' | 'deny' | 'invalid' | 'approve' | 'reject' | 'dual' | 'cancel' | 'expire' | 'race';
const PLANS: readonly Plan[] = [
  'auto',
  'deny',
  'invalid',
  'approve',
  'reject',
  'dual',
  'cancel',
  'expire',
  'race',
];

export interface LoadOptions {
  prefix: string;
  /** Requests in all. */
  total: number;
  /** Requests started per second. */
  perSecond: number;
  /** No client keeps retrying after this many ms from the start. */
  deadlineMs: number;
}

export interface LoadStats {
  requests: number;
  accepted: number;
  decisions: number;
  retries: number;
  /** Requests whose plan did not finish before the deadline. */
  incomplete: string[];
  /**
   * Answers no well-behaved client should get, e.g. `internal`: code -> count. An `internal`
   * answer is retried like `unavailable` (so the run goes on and says how often), and every
   * count here is a violation of the scenario.
   */
  unexpected: Record<string, number>;
}

export interface Load {
  accepted: Map<string, Expectation>;
  stats: LoadStats;
  /** Resolves when every plan finished or gave up at the deadline. */
  done: Promise<void>;
}

class GaveUp extends Error {}

export function startLoad(client: { nc: NatsConnection; js: JetStreamClient }, options: LoadOptions): Load {
  const started = Date.now();
  const deadline = started + options.deadlineMs;
  const accepted = new Map<string, Expectation>();
  const stats: LoadStats = {
    requests: 0,
    accepted: 0,
    decisions: 0,
    retries: 0,
    incomplete: [],
    unexpected: {},
  };

  /** Retries `attempt` while it fails in a way a client should retry, until the deadline. */
  async function persist<T>(attempt: () => Promise<T>, retryNotFound = false): Promise<T> {
    let delay = 100;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        const code = err instanceof CountersignError ? err.code : 'transport';
        const retry =
          code === 'unavailable' ||
          code === 'transport' ||
          code === 'internal' ||
          (retryNotFound && code === 'not_found');
        if (!retry) throw err;
        if (code === 'internal') stats.unexpected.internal = (stats.unexpected.internal ?? 0) + 1;
        if (Date.now() + delay > deadline) throw new GaveUp(`gave up: ${String(err)}`);
        stats.retries++;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  const call = <E extends EndpointName>(name: E, request: RequestOf<E>): Promise<ResponseOf<E>> =>
    commandAs(client.nc, name, request, { timeout: 3000 });

  async function publish(body: unknown, id: string): Promise<void> {
    await persist(async () => {
      try {
        await client.js.publish(Subjects.requestedBy(REQUESTER), JSON.stringify(body), {
          msgID: id,
          timeout: 3000,
        });
      } catch (err) {
        throw new CountersignError('unavailable', String(err));
      }
    });
  }

  /**
   * A decision (or cancel) until the system acknowledges it. An `already_decided` answer is an
   * acknowledgement too (an earlier attempt that timed out may have been the one that counted,
   * or the racing command won): it says how the approval ended.
   */
  async function decision(
    run: () => Promise<{ status: ApprovalStatus }>,
  ): Promise<ApprovalStatus | 'voted' | undefined> {
    stats.decisions++;
    try {
      return (await persist(run, true)).status;
    } catch (err) {
      if (err instanceof CountersignError && err.code === 'already_decided') {
        return (err.details as { status?: ApprovalStatus } | undefined)?.status;
      }
      // A retried vote that had counted already: the policy refuses the second one.
      if (
        err instanceof CountersignError &&
        err.code === 'forbidden' &&
        JSON.stringify(err.details).includes('already_voted')
      ) {
        return 'voted';
      }
      if (err instanceof CountersignError && !(err instanceof GaveUp)) {
        stats.unexpected[err.code] = (stats.unexpected[err.code] ?? 0) + 1;
      }
      throw err;
    }
  }

  const decide = (action_id: string, decided_by: string, approved: boolean) =>
    decision(() => call('decide', { action_id, decided_by, approved, reason: `load: ${decided_by}` }));
  const cancel = (action_id: string) =>
    decision(() => call('cancel', { action_id, cancelled_by: REQUESTER, reason: 'load: cancel' }));

  async function run(i: number): Promise<void> {
    const plan = PLANS[i % PLANS.length] as Plan;
    const action_id = `${options.prefix}-${i}-${plan}`;
    const amount = { auto: 10, deny: 2_000_000, dual: 20_000 }[plan as string] ?? 1500;
    const body: ApprovalRequestInput = {
      action_id,
      action_type: 'payment',
      description: `Load ${plan} ${i}`,
      requested_by: REQUESTER,
      context: { amount },
      ...(plan === 'expire' ? { timeout_seconds: 2 } : {}),
    };
    const viaIntake = ['auto', 'invalid', 'reject', 'cancel', 'expire'].includes(plan);
    stats.requests++;
    if (viaIntake) {
      // An invalid request still has a usable action_id: it is recorded as rejected at once.
      await publish(plan === 'invalid' ? { ...body, description: undefined } : body, action_id);
    } else {
      await persist(() => call('submit', body));
    }
    stats.accepted++;
    const expect = (...statuses: ApprovalStatus[]) => accepted.set(action_id, { statuses });
    switch (plan) {
      case 'auto':
        return void expect('approved');
      case 'deny':
      case 'invalid':
        return void expect('rejected');
      case 'expire':
        return void expect('expired');
      case 'approve':
        expect('approved');
        await decide(action_id, 'frank', true);
        return;
      case 'reject':
        expect('rejected');
        await decide(action_id, 'alice', false);
        return;
      case 'dual':
        expect('approved');
        await decide(action_id, 'alice', true);
        await decide(action_id, 'frank', true);
        return;
      case 'cancel':
        expect('cancelled');
        await cancel(action_id);
        return;
      case 'race': {
        expect('approved', 'cancelled');
        const [voted, cancelled] = await Promise.allSettled([
          decide(action_id, 'frank', true),
          cancel(action_id),
        ]);
        // What a client was told is final: narrow the expectation to it.
        const told = [voted, cancelled].flatMap((r) =>
          r.status === 'fulfilled' && (r.value === 'approved' || r.value === 'cancelled') ? [r.value] : [],
        );
        if (told.length > 0 && told.every((s) => s === told[0])) expect(told[0] as ApprovalStatus);
        if (told.length > 1 && told[0] !== told[1])
          throw new Error(`${action_id}: told approved and cancelled`);
        for (const r of [voted, cancelled]) if (r.status === 'rejected') throw r.reason;
        return;
      }
    }
  }

  const tasks: Promise<void>[] = [];
  const done = (async () => {
    for (let i = 0; i < options.total && Date.now() < deadline; i++) {
      const id = i;
      tasks.push(
        run(id).catch((err: unknown) => {
          stats.incomplete.push(
            `${options.prefix}-${id}: ${err instanceof Error ? err.message : String(err)}`,
          );
        }),
      );
      // Pacing, not synchronisation: a steady arrival rate while the faults happen.
      const next = started + ((i + 1) * 1000) / options.perSecond;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
    await Promise.all(tasks);
  })();
  return { accepted, stats, done };
}
