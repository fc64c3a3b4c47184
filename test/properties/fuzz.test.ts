/**
 * Property: whatever arrives (any JSON, raw bytes, control characters, near-valid requests),
 * every NATS command, the intake stream and every HTTP endpoint of the approval service answer
 * with a structured error or a valid result, within a bounded time, never `internal`, and the
 * services stay ready. Failures print the fast-check seed; FC_SEED=<seed> replays one.
 */
import { randomBytes } from 'node:crypto';
import {
  actorSubject,
  type EndpointName,
  Endpoints,
  ErrorBody,
  Headers,
  Streams,
  Subjects,
  statusOf,
} from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import type { Msg } from '@nats-io/nats-core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { call, eventCounts, httpUrlOf, payment, startSystem } from '../support.js';
import { body, mutated, runs } from './arbitraries.js';

const IDENTITIES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'] as const;
const tokens = Object.fromEntries(IDENTITIES.map((id) => [id, `${id}-${randomBytes(16).toString('hex')}`]));
const sys = await startSystem('fuzz', {
  HTTP_PORT: '0',
  REVIEW_LINK_SECRET: randomBytes(32).toString('hex'),
  API_TOKENS: IDENTITIES.map((id) => `${tokens[id]}:${id}`).join(','),
});
const base = httpUrlOf(sys.approval) as string;
const decoder = new TextDecoder();
/** A contract schema, as far as these tests use one. */
type Schema = { parse(value: unknown): unknown };

// Real records to start mutating from: a pending approval and an approved one.
const pending = await call(sys.nc, 'submit', payment('fuzz-pending', 1500));
const approved = await call(sys.nc, 'submit', payment('fuzz-approved', 10));

let n = 0;
/** A fresh action_id per generated submission, so most are new approvals, not conflicts. */
const fresh = () => `fuzz-${++n}`;

const seeds: Record<EndpointName, () => Record<string, unknown>> = {
  submit: () => ({ ...payment(fresh(), 1500) }),
  evaluate: () => ({ ...payment(fresh(), 1500) }),
  decide: () => ({ action_id: pending.action_id, approved: true, decided_by: 'frank', reason: 'ok' }),
  cancel: () => ({ action_id: pending.action_id, cancelled_by: 'dave', reason: 'no' }),
  get: () => ({ action_id: approved.action_id }),
  list: () => ({ status: 'pending', run_id: 'r', action_type: 'payment', requested_by: 'dave', limit: 5 }),
  stats: () => ({}),
  keys: () => ({}),
  policyInputs: () => ({ since: '2020-01-01T00:00:00Z', action_type: 'payment', limit: 5 }),
  report: () => ({ action_id: approved.action_id, outcome: 'executed', reported_by: 'dave', detail: 'x' }),
  authorize: () => ({ action: 'decide', approval: pending, actor: 'frank' }),
  policyInfo: () => ({}),
  delegate: () => ({ delegator: 'frank', delegate: 'eve', role: 'finance', ends_at: '2099-01-01T00:00:00Z' }),
  undelegate: () => ({ id: '00000000-0000-4000-8000-000000000000', revoked_by: 'frank' }),
  delegations: () => ({ person: 'frank', active: true }),
  extend: () => ({ action_id: pending.action_id, seconds: 60, extended_by: 'frank', reason: 'later' }),
  deadLetters: () => ({ status: 'dead', limit: 5 }),
  retryDeliveries: () => ({ ids: [1] }),
  discardDeliveries: () => ({ ids: [1] }),
  deliveries: () => ({ action_id: pending.action_id }),
  channelHealth: () => ({}),
  // An empty gzip stream: base64 that is no bundle.
  proposePolicy: () => ({ bundle: 'H4sIAAAAAAAAAwMAAAAAAAAAAAA=', break_glass: false }),
  activatePolicy: () => ({ action_id: approved.action_id }),
};
// A proposal is a person's: the ops user may not publish policy.propose.<anyone>.
const asAlice = await sys.nats.connect('alice');
afterAll(() => asAlice.drain());

/** The system above runs the approval and policy services; the notifier's commands are fuzzed by none here. */
const served = (name: EndpointName) => !Endpoints[name].subject.startsWith('notifier.');

/** A reply is either the command's result or a structured error, and never `internal`. */
function checkReply(name: EndpointName, reply: Msg): void {
  const json = JSON.parse(decoder.decode(reply.data));
  const code = reply.headers?.get(Headers.serviceErrorCode);
  if (code) {
    const error = ErrorBody.parse(json).error;
    expect(error.code).not.toBe('internal');
    expect(statusOf(error.code)).toBe(Number(code));
  } else {
    (Endpoints[name].response as Schema).parse(json);
  }
}

describe('NATS commands under arbitrary input', () => {
  // Commands that act go out under an identity allowed to take that action.
  const actors: Partial<Record<EndpointName, string>> = {
    submit: 'dave',
    decide: 'frank',
    cancel: 'dave',
    report: 'dave',
    delegate: 'frank',
    undelegate: 'frank',
    extend: 'frank',
    proposePolicy: 'alice',
  };
  for (const name of (Object.keys(Endpoints) as EndpointName[]).filter(served)) {
    const actor = actors[name];
    const subject = actor ? actorSubject(name, actor) : Endpoints[name].subject;
    it(`${subject} answers a structured error or a valid result`, async () => {
      // chain: a fresh seed (a new action_id) for every generated request.
      const input = fc.constant(null).chain(() => body(seeds[name]()));
      await fc.assert(
        fc.asyncProperty(input, async (bytes) => {
          // A hang fails here: the request times out instead of being answered.
          const nc = name === 'proposePolicy' ? asAlice : sys.nc;
          checkReply(name, await nc.request(subject, bytes, { timeout: 5_000 }));
        }),
        runs(60),
      );
    });
  }
});

describe('the intake stream under arbitrary input', () => {
  it('records every addressable message as an approval and dead-letters every other one', async () => {
    const deadLettered = async () => (await eventCounts(sys.nc, Subjects.invalid))[Subjects.invalid] ?? 0;
    const before = await deadLettered();
    const addressable: string[] = [];
    let unaddressable = 0;
    const message = fc.oneof(
      body({}).map((bytes) => ({ bytes, id: undefined as string | undefined })),
      mutated({ ...payment('x', 1500) }).map((value) => {
        // A valid, unique action_id makes it addressable whatever else is wrong with it.
        const id = `fuzz-intake-${++n}`;
        return { bytes: new TextEncoder().encode(JSON.stringify({ ...value, action_id: id })), id };
      }),
    );
    await fc.assert(
      fc.asyncProperty(message, async ({ bytes, id }) => {
        if (id) addressable.push(id);
        else if (!hasActionId(bytes)) unaddressable++;
        else return; // a generated body that happens to carry a valid action_id: not counted
        await sys.js.publish(Subjects.requestedBy('dave'), bytes, id ? { msgID: id } : {});
      }),
      runs(120),
    );
    await waitUntil(
      async () => {
        const rows = await sys.pool.query(
          'select count(*)::int as n from approval.approvals where action_id = any($1)',
          [addressable],
        );
        const queued = (await sys.jsm.streams.info(Streams.requests)).state.messages;
        const invalid = (await deadLettered()) - before;
        if (invalid === unaddressable && rows.rows[0].n === addressable.length && queued === 0) return true;
        throw new Error(
          `${invalid}/${unaddressable} dead-lettered, ${rows.rows[0].n}/${addressable.length} recorded, ${queued} queued`,
        );
      },
      { timeout: 20_000, message: 'every intake message recorded or dead-lettered' },
    );
    // Every addressable one that was decided has exactly one decided event. The outbox relay
    // publishes after the intake's commit, so wait for the events, then check none is doubled.
    const terminal = await sys.pool.query<{ action_id: string }>(
      "select action_id from approval.approvals where action_id = any($1) and status <> 'pending'",
      [addressable],
    );
    let decided: Record<string, number> = {};
    await waitUntil(
      async () => {
        decided = await eventCounts(sys.nc);
        const missing = terminal.rows.filter((r) => !decided[Subjects.decided(r.action_id)]);
        if (missing.length === 0) return true;
        throw new Error(`${missing.length}/${terminal.rows.length} decided events not yet published`);
      },
      { timeout: 20_000, message: 'a decided event for every terminal approval' },
    );
    expect(terminal.rows.filter((r) => decided[Subjects.decided(r.action_id)] !== 1)).toEqual([]);
  });
});

/** Whether the intake would find a usable action_id in these bytes (then it is not dead-lettered). */
function hasActionId(bytes: Uint8Array): boolean {
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof value.action_id === 'string' &&
      /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(value.action_id)
    );
  } catch {
    return false;
  }
}

// ---- HTTP ----------------------------------------------------------------------------------

const segment = fc.oneof(
  fc.constantFrom(pending.action_id, approved.action_id, '..', '%', '%ZZ', '%00', '%2F', 'a%2Fb', '%C0%AE'),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
);
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?limit=0', '?limit=abc', '?status=pending&status=approved', '?cursor=%ZZ', '?%=%'),
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom('status', 'run_id', 'action_type', 'requested_by', 'limit', 'cursor'),
          fc.string(),
        ),
        fc.oneof(fc.constantFrom("' or 1=1 --", 'pending', '500', '-1'), fc.string()),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${new URLSearchParams(pairs).toString()}`),
);
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});
const authorization = fc.oneof(
  fc.constantFrom(...IDENTITIES).map((id) => `Bearer ${tokens[id]}`),
  fc.constant(undefined),
  printable.map((s) => `Bearer ${s}`),
  fc.constant('Basic YWxpY2U6YWxpY2U='),
);
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
  ),
  fc.constant(undefined),
  printable,
);

interface Route {
  method: 'GET' | 'POST';
  path: fc.Arbitrary<string>;
  /** The result schema of a 200 answer (JSON API routes); pages answer HTML. */
  result?: Schema;
  valid: () => Record<string, unknown>;
}

const api = (path: string) => fc.constant(path);
const ROUTES: Record<string, Route> = {
  submit: {
    method: 'POST',
    path: api('/api/v1/approvals'),
    result: Endpoints.submit.response,
    valid: seeds.submit,
  },
  list: {
    method: 'GET',
    path: query.map((q) => `/api/v1/approvals${q}`),
    result: Endpoints.list.response,
    valid: () => ({}),
  },
  get: {
    method: 'GET',
    path: segment.map((s) => `/api/v1/approvals/${s}`),
    result: Endpoints.get.response,
    valid: () => ({}),
  },
  decide: {
    method: 'POST',
    path: segment.map((s) => `/api/v1/approvals/${s}/decide`),
    result: Endpoints.decide.response,
    valid: () => ({ approved: true, reason: 'ok' }),
  },
  cancel: {
    method: 'POST',
    path: segment.map((s) => `/api/v1/approvals/${s}/cancel`),
    result: Endpoints.cancel.response,
    valid: () => ({ reason: 'no' }),
  },
  report: {
    method: 'POST',
    path: segment.map((s) => `/api/v1/approvals/${s}/report`),
    result: Endpoints.report.response,
    valid: () => ({ outcome: 'failed', detail: 'x' }),
  },
  stats: { method: 'GET', path: api('/api/v1/stats'), result: Endpoints.stats.response, valid: () => ({}) },
  review: {
    method: 'GET',
    path: fc
      .tuple(segment, printable)
      .map(([s, t]) => `/approvals/${s}/review?token=${encodeURIComponent(t)}`),
    valid: () => ({}),
  },
  reviewPost: {
    method: 'POST',
    path: fc
      .tuple(segment, printable)
      .map(([s, t]) => `/approvals/${s}/review?token=${encodeURIComponent(t)}`),
    valid: () => ({ decision: 'approve', csrf: 'x', token: 'y' }),
  },
  login: { method: 'POST', path: api('/dashboard/login'), valid: () => ({ token: tokens.alice }) },
  dashboard: { method: 'GET', path: segment.map((s) => `/dashboard/approvals/${s}`), valid: () => ({}) },
  fragment: {
    method: 'GET',
    path: segment.map((s) => `/dashboard/fragments/approvals/${s}`),
    valid: () => ({}),
  },
  dashboardDecide: {
    method: 'POST',
    path: segment.map((s) => `/dashboard/approvals/${s}/decide`),
    valid: () => ({ decision: 'reject', reason: 'x', csrf: 'y' }),
  },
};

/** Refusals before a command runs use these statuses with the nearest code. */
const PRE_COMMAND: Record<number, string> = {
  401: 'forbidden',
  405: 'invalid_request',
  415: 'invalid_request',
};

describe('HTTP endpoints under arbitrary input', () => {
  for (const [name, route] of Object.entries(ROUTES)) {
    it(`${route.method} ${name} answers a structured error or a valid result`, async () => {
      const request = fc.record({
        path: route.path,
        authorization,
        contentType,
        body: body(route.valid()),
        asForm: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const headers: Record<string, string> = {};
          if (r.authorization) headers.authorization = r.authorization;
          if (r.contentType) headers['content-type'] = r.contentType;
          const res = await fetch(`${base}${r.path}`, {
            method: route.method,
            headers,
            ...(route.method === 'POST' ? { body: r.body } : {}),
            redirect: 'manual',
            signal: AbortSignal.timeout(5_000),
          });
          const text = await res.text();
          expect(res.status).toBeLessThan(500);
          if (!res.headers.get('content-type')?.startsWith('application/json')) return;
          const json = JSON.parse(text);
          if (res.status === 200 && route.result) {
            route.result.parse(json);
          } else if (res.status >= 400) {
            const { code } = ErrorBody.parse(json).error;
            expect(PRE_COMMAND[res.status] ?? code).toBe(code);
            if (!PRE_COMMAND[res.status]) expect(statusOf(code)).toBe(res.status);
          }
        }),
        runs(40),
      );
    });
  }

  it('leaves the services ready and working', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await call(sys.nc, 'submit', payment('fuzz-after', 10))).status).toBe('approved');
    expect(sys.approval.process().child.exitCode).toBeNull();
    expect(sys.policy.process().child.exitCode).toBeNull();
  });
});
