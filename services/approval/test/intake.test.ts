/**
 * The durable intake: requests published to approval.requested (APPROVAL_REQUESTS) become
 * approvals through the same code path as approval.submit; what cannot be addressed goes to
 * approval.invalid; nothing stays behind in the work queue.
 */
import {
  type Approval,
  type ApprovalRequestInput,
  InvalidMessageEvent,
  MAX_PAYLOAD_BYTES,
  Streams,
  Subjects,
} from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../src/audit.js';
import { TEST_AUDIT_KEYS } from './audit-keys.js';
import { call, decidedEvent, eventCounts, refusal, request, startHarness } from './support.js';

const h = await startHarness('intake');
const jsm = await jetstreamManager(h.nc);

/** Publishes to the intake as dave, the requester of every request here. */
async function publish(payload: unknown, msgID?: string): Promise<void> {
  const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  await h.js.publish(Subjects.requestedBy('dave'), data, msgID ? { msgID } : {});
}

async function recorded(actionId: string): Promise<Approval> {
  return waitUntil(() => call(h.nc, 'get', { action_id: actionId }).catch(() => undefined), {
    message: `approval ${actionId} to be recorded`,
  });
}

async function invalidEvents(): Promise<InvalidMessageEvent[]> {
  const counts = await eventCounts(h.nc, Subjects.invalid);
  const total = counts[Subjects.invalid] ?? 0;
  if (total === 0) return [];
  const consumer = await h.js.consumers.get(Streams.events, { filter_subjects: [Subjects.invalid] });
  const events: InvalidMessageEvent[] = [];
  for await (const msg of await consumer.fetch({ max_messages: total, expires: 2_000 })) {
    events.push(InvalidMessageEvent.parse(msg.json()));
    if (events.length === total) break;
  }
  return events;
}

const workQueueEmpty = async () => (await jsm.streams.info(Streams.requests)).state.messages === 0;

describe('intake', () => {
  it('records a published request and emits its decided event', async () => {
    const req = request('in', { context: { amount: 50 } });
    await publish(req, req.action_id);
    const approval = await recorded(req.action_id);
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'policy', requested_by: 'dave' });
    expect((await decidedEvent(h.nc, req.action_id)).data.status).toBe('approved');
    await waitUntil(workQueueEmpty, { message: 'the work queue to drain' });
  });

  it('keeps the request as the policy evaluated it, for a replay, and never lets it change', async () => {
    // Pending (a terminal approval refuses every update anyway).
    const req = request('input', { context: { amount: 1500 }, timeout_seconds: 600 });
    await publish(req, req.action_id);
    await recorded(req.action_id);
    const row = await h.pool.query('select policy_input from approval.approvals where action_id = $1', [
      req.action_id,
    ]);
    // timeout_seconds is the request's own: the approval's columns do not keep it.
    expect(row.rows[0]?.policy_input).toMatchObject({
      action_id: req.action_id,
      timeout_seconds: 600,
      context: { amount: 1500 },
    });
    await expect(
      h.pool.query(`update approval.approvals set policy_input = '{}' where action_id = $1`, [req.action_id]),
    ).rejects.toThrow(/may not change the policy input/);
  });

  it('rejects an addressable invalid request at once, with the validation errors as the reason', async () => {
    const action_id = request('bad').action_id;
    await publish({ action_id, action_type: 'payment', requested_by: 'dave', context: { amount: -5 } });
    const approval = await recorded(action_id);
    expect(approval).toMatchObject({
      status: 'rejected',
      decided_by: 'countersign',
      requested_by: 'dave',
      action_type: 'payment',
      policy: { outcome: 'deny', revision: 'none', reasons: [{ code: 'invalid_request' }] },
    });
    expect(approval.decision_reason).toContain('description');
    expect(approval.decision_reason).toContain('context.amount');
    expect((await decidedEvent(h.nc, action_id)).data.status).toBe('rejected');
  });

  it('rejects what Postgres could not store (NUL) and an oversized request instead of retrying them forever', async () => {
    const nul = request('nul', { description: 'evil\u0000text' });
    await publish(nul);
    expect(await recorded(nul.action_id)).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    // An unknown key holding a NUL: the validation error names it, and must still be storable.
    const nulKey = { ...request('nulkey'), 'bad\u0000key': 1 };
    await publish(nulKey);
    const rejected = await recorded(nulKey.action_id);
    expect(rejected).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    expect(rejected.decision_reason).toContain('badkey');

    const big = request('big', {
      description: 'x'.repeat(1000),
      context: { blob: 'y'.repeat(MAX_PAYLOAD_BYTES) },
    });
    await publish(big);
    const approval = await recorded(big.action_id);
    expect(approval).toMatchObject({ status: 'rejected', decided_by: 'countersign', context: {} });
    expect(approval.decision_reason).toMatch(/bytes; the limit is/);
  });

  it('rejects unpaired UTF-16 surrogates (JSON allows them, PostgreSQL does not) instead of dead-lettering them', async () => {
    const lone = request('surrogate', { description: 'half \ud800 a pair' });
    await publish(lone);
    expect(await recorded(lone.action_id)).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    // What the property test found: invalid (an unknown key) with a lone surrogate in requested_by.
    const both = { ...request('surrogate-invalid', { requested_by: '\ud800' }), '': 1 };
    await publish(both);
    expect(await recorded(both.action_id)).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    // Synchronously the same; a decision whose reason holds one is refused, not an internal error.
    const sync = await call(h.nc, 'submit', request('surrogate-sync', { context: { note: '\udfff' } }));
    expect(sync).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    const pending = await call(h.nc, 'submit', request('surrogate-pending', { context: { amount: 1500 } }));
    const refused = await refusal(
      call(h.nc, 'decide', {
        action_id: pending.action_id,
        approved: true,
        decided_by: 'frank',
        reason: 'ok \ud800',
      }),
    );
    expect(refused.code).toBe('invalid_request');
  });

  it('dead-letters unaddressable messages to approval.invalid with the error and the raw payload', async () => {
    const before = (await invalidEvents()).length;
    const raws = [
      'this is not json',
      JSON.stringify({ action_type: 'payment' }),
      JSON.stringify({ action_id: 'has.dots' }),
    ];
    for (const raw of raws) await publish(raw);
    const events = await waitUntil(
      async () => {
        const all = await invalidEvents();
        return all.length >= before + raws.length ? all.slice(before) : undefined;
      },
      { message: 'three approval.invalid events' },
    );
    expect(events.map((e) => e.raw).sort()).toEqual([...raws].sort());
    for (const e of events) expect(e.error.code).toBe('invalid_request');
    expect(events.find((e) => e.raw === 'this is not json')?.error.message).toMatch(/not valid JSON/);
    expect(events.find((e) => e.raw.includes('has.dots'))?.error.details).toMatchObject({
      fields: [expect.objectContaining({ path: 'action_id' })],
    });
    await waitUntil(workQueueEmpty, { message: 'the work queue to drain' });
  });

  it('records a re-published request once, with one event, and audits a conflicting one', async () => {
    const req = request('dup', { context: { amount: 1500 } });
    // Different msg ids, so JetStream does not deduplicate: the service must.
    await publish(req, `${req.action_id}-a`);
    await recorded(req.action_id);
    await publish(req, `${req.action_id}-b`);
    const conflicting: ApprovalRequestInput = { ...req, description: 'something else' };
    await publish(conflicting, `${req.action_id}-c`);
    const history = await waitUntil(
      async () => {
        const a = await call(h.nc, 'get', { action_id: req.action_id });
        return a.history.some((e) => e.event === 'idempotency_conflict') ? a.history : undefined;
      },
      { message: 'the conflict to be audited' },
    );
    await waitUntil(workQueueEmpty, { message: 'the work queue to drain' });
    expect(history.map((e) => e.event)).toEqual(['requested', 'idempotency_conflict']);
    expect(verifyAuditChain(req.action_id, history, TEST_AUDIT_KEYS)).toEqual({ ok: true });
    const rows = await h.pool.query('select description from approval.approvals where action_id = $1', [
      req.action_id,
    ]);
    expect(rows.rows).toEqual([{ description: req.description }]);
    expect((await eventCounts(h.nc, Subjects.pending(req.action_id)))[Subjects.pending(req.action_id)]).toBe(
      1,
    );
  });

  it('records a burst in batches: one row and one decided event per request', async () => {
    const run_id = `burst-${Date.now()}`;
    const requests = Array.from({ length: 300 }, (_, i) =>
      request('burst', { run_id, context: { amount: i % 3 === 0 ? 2_000_000 : 10 } }),
    );
    await Promise.all(requests.map((r) => publish(r, r.action_id)));
    await waitUntil(
      async () => {
        const n = await h.pool.query('select count(*)::int as n from approval.approvals where run_id = $1', [
          run_id,
        ]);
        return n.rows[0].n === requests.length;
      },
      { timeout: 30_000, message: 'every request to be recorded' },
    );
    await waitUntil(
      async () => {
        const counts = await eventCounts(h.nc, Subjects.decidedAll);
        return requests.every((r) => counts[Subjects.decided(r.action_id)] === 1);
      },
      { timeout: 30_000, message: 'one decided event per request' },
    );
    const statuses = await h.pool.query(
      'select status, count(*)::int as n from approval.approvals where run_id = $1 group by status order by status',
      [run_id],
    );
    expect(statuses.rows).toEqual([
      { status: 'approved', n: 200 },
      { status: 'rejected', n: 100 },
    ]);
    // In batches: rows written by one transaction share its id (xmin), so a burst recorded one
    // request per transaction would show 300 of them, each with one row.
    const transactions = await h.pool.query<{ rows: number }>(
      'select count(*)::int as rows from approval.approvals where run_id = $1 group by xmin::text',
      [run_id],
    );
    expect(transactions.rows.length).toBeLessThan(requests.length);
    expect(Math.max(...transactions.rows.map((t) => t.rows))).toBeGreaterThan(1);
  });
});
