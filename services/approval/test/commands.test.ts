/**
 * The approval lifecycle through the `approval.*` commands, against a real PostgreSQL, a real
 * nats-server and the real policy service with the shipped default policy and sample directory
 * (alice [finance, ops], bob [ops], carol [admin], erin [security], frank [finance],
 * grace [ops, security]).
 */
import { type Approval, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../src/audit.js';
import { TEST_AUDIT_KEYS } from './audit-keys.js';
import { call, decidedEvent, eventCounts, lastEvent, refusal, request, startHarness } from './support.js';

const h = await startHarness('commands');
const admin = new pg.Client({ connectionString: h.db.url });
await admin.connect();
afterAll(() => admin.end());

const submit = (overrides: Parameters<typeof request>[1] = {}, prefix = 'pay') =>
  call(h.nc, 'submit', request(prefix, overrides));
const decide = (action_id: string, decided_by: string, approved = true, reason?: string) =>
  call(h.nc, 'decide', { action_id, decided_by, approved, ...(reason ? { reason } : {}) });

describe('policy outcomes at submission', () => {
  it('auto-approves a low-risk request: decided by the policy, one decided event, no pending one', async () => {
    const approval = await submit({ context: { amount: 50 } });
    expect(approval).toMatchObject({
      status: 'approved',
      decided_by: 'policy',
      policy: { outcome: 'auto_approve' },
      votes: [],
    });
    expect(approval.decided_at).toBe(approval.created_at);
    const event = await decidedEvent(h.nc, approval.action_id);
    expect(event).toMatchObject({
      type: 'approval.decided',
      data: { action_id: approval.action_id, status: 'approved' },
    });
    expect(await lastEvent(h.nc, Subjects.pending(approval.action_id))).toBeUndefined();
  });

  it("auto-approves an admin's request through the bypass role", async () => {
    const approval = await submit({ requested_by: 'carol', context: { amount: 5000 } });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'policy' });
    expect(approval.policy.reasons.map((r) => r.code)).toContain('bypass_role');
  });

  it('denies over the amount limit: rejected by the policy, with its reasons', async () => {
    const approval = await submit({ context: { amount: 2_000_000 } });
    expect(approval).toMatchObject({ status: 'rejected', decided_by: 'policy', policy: { outcome: 'deny' } });
    expect(approval.policy.reasons.map((r) => r.code)).toContain('amount_limit_exceeded');
    // The decision's reason is the policy's own: the message of the rule that denied it.
    const limit = approval.policy.reasons.find((r) => r.code === 'amount_limit_exceeded');
    expect(limit?.message).toMatch(/\S/);
    expect(approval.decision_reason).toContain(limit?.message);
    expect((await decidedEvent(h.nc, approval.action_id)).data.status).toBe('rejected');
  });

  it('leaves a request that needs people pending, with its deadline and a pending event', async () => {
    const approval = await submit({ context: { amount: 1500 } });
    expect(approval).toMatchObject({
      status: 'pending',
      decided_at: null,
      decided_by: null,
      required_approvals: 1,
      policy: { outcome: 'needs_approval', approver_roles: ['finance'] },
    });
    expect(Date.parse(approval.expires_at) - Date.parse(approval.created_at)).toBe(
      approval.policy.timeout_seconds * 1000,
    );
    await waitUntil(() => lastEvent(h.nc, Subjects.pending(approval.action_id)));
    const event = await lastEvent(h.nc, Subjects.pending(approval.action_id));
    expect(event).toMatchObject({ type: 'approval.pending', data: { status: 'pending' } });
  });
});

describe('decide', () => {
  it('approves with one vote from an approver holding the role', async () => {
    const pending = await submit({ context: { amount: 1500 } });
    const approved = await decide(pending.action_id, 'frank', true, 'invoice checked');
    expect(approved).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
      decision_reason: 'invoice checked',
    });
    expect(approved.votes).toEqual([
      { voter: 'frank', approved: true, reason: 'invoice checked', at: approved.decided_at },
    ]);
    expect((await decidedEvent(h.nc, pending.action_id)).data).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
    });
  });

  it('needs two distinct approvers for a high-value payment; the same person twice is refused', async () => {
    const pending = await submit({ context: { amount: 20_000 } });
    expect(pending.required_approvals).toBe(2);
    const first = await decide(pending.action_id, 'alice');
    expect(first).toMatchObject({ status: 'pending', decided_by: null });
    expect(first.votes.map((v) => v.voter)).toEqual(['alice']);

    const again = await refusal(decide(pending.action_id, 'alice'));
    expect(again.code).toBe('forbidden');
    expect(again.details?.reasons).toEqual([expect.objectContaining({ code: 'already_voted' })]);

    const second = await decide(pending.action_id, 'frank');
    expect(second).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(second.votes.map((v) => v.voter)).toEqual(['alice', 'frank']);
  });

  it('rejects on the first authorized rejection, whatever approvals came before', async () => {
    const pending = await submit({ context: { amount: 20_000 } });
    await decide(pending.action_id, 'alice');
    const rejected = await decide(pending.action_id, 'frank', false, 'unknown vendor');
    expect(rejected).toMatchObject({
      status: 'rejected',
      decided_by: 'frank',
      decision_reason: 'unknown vendor',
    });
    expect((await decidedEvent(h.nc, pending.action_id)).data.status).toBe('rejected');
  });

  it('forbids self-approval and a decider without the approver role, and records nothing', async () => {
    const pending = await submit({ requested_by: 'alice', context: { amount: 1500 } });
    const self = await refusal(decide(pending.action_id, 'alice'));
    expect(self.code).toBe('forbidden');
    expect(self.details?.reasons).toEqual([expect.objectContaining({ code: 'self_approval' })]);

    const noRole = await refusal(decide(pending.action_id, 'bob', false));
    expect(noRole.code).toBe('forbidden');
    expect(noRole.details?.reasons).toEqual([expect.objectContaining({ code: 'missing_role' })]);

    const after = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(after).toMatchObject({ status: 'pending', votes: [] });
    expect(after.history.map((e) => e.event)).toEqual(['requested']);
  });

  it('answers already_decided with who and when on a decided approval', async () => {
    const pending = await submit({ context: { amount: 1500 } });
    const approved = await decide(pending.action_id, 'frank');
    const late = await refusal(decide(pending.action_id, 'alice', false));
    expect(late.code).toBe('already_decided');
    expect(late.details).toEqual({
      action_id: pending.action_id,
      status: 'approved',
      decided_by: 'frank',
      decided_at: approved.decided_at,
    });
    expect(late.message).toContain('frank');
  });

  it('resumes a paused task by its owner only: the identity that paused it', async () => {
    const pause = await submit({ action_type: 'task_pause', requested_by: 'agent-7' });
    expect(pause.status).toBe('pending');
    for (const other of ['bob', 'agent-3']) {
      const wrong = await refusal(
        call(h.nc, 'decide', { action_id: pause.action_id, approved: true, decided_by: other }),
      );
      expect(wrong.code).toBe('forbidden');
      expect(wrong.details?.reasons).toEqual([expect.objectContaining({ code: 'not_owner' })]);
    }
    // The owner's name in another case or with spaces is the same identity.
    const resumed = await call(h.nc, 'decide', {
      action_id: pause.action_id,
      approved: true,
      decided_by: ' Agent-7 ',
    });
    expect(resumed).toMatchObject({ status: 'approved', decided_by: 'agent-7' });
  });

  it('answers not_found and invalid_request as structured errors', async () => {
    expect((await refusal(decide('no-such-approval', 'frank'))).code).toBe('not_found');
    expect((await refusal(call(h.nc, 'get', { action_id: 'no-such-approval' }))).code).toBe('not_found');
    const bad = await refusal(call(h.nc, 'decide', { action_id: 'x', approved: 'yes' } as never));
    expect(bad.code).toBe('invalid_request');
  });
});

describe('concurrent decides', () => {
  it('give one outcome: many parallel votes of two approvers on a one-vote approval', async () => {
    const pending = await submit({ context: { amount: 1500 } });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => decide(pending.action_id, i % 2 ? 'frank' : 'alice', i % 3 !== 0)),
    );
    const won = results.filter((r): r is PromiseFulfilledResult<Approval> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(['already_decided', 'forbidden']).toContain(r.reason.code);
    }
    const final = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(final.status).toBe(won[0]?.value.status);
    expect(final.votes).toHaveLength(1);
    await decidedEvent(h.nc, pending.action_id);
    expect(verifyAuditChain(final.action_id, final.history, TEST_AUDIT_KEYS)).toEqual({ ok: true });
  });

  it('count exactly the required distinct approvals when three approvers race on a two-vote approval', async () => {
    const pending = await submit(
      { action_type: 'delete_user', context: { environment: 'production' } },
      'del',
    );
    expect(pending).toMatchObject({ status: 'pending', required_approvals: 2 });
    const results = await Promise.allSettled(
      ['alice', 'bob', 'grace'].map((who) => decide(pending.action_id, who)),
    );
    const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.code)).sort();
    expect(statuses).toEqual(['already_decided', 'approved', 'pending']);
    const final = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(final).toMatchObject({ status: 'approved' });
    expect(final.votes).toHaveLength(2);
  });

  it('count a vote committed while another decide waited for the row lock', async () => {
    const pending = await submit(
      { action_type: 'delete_user', context: { environment: 'production' } },
      'del',
    );
    // Hold the row lock so both decides pass authorization and queue up behind it.
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from approval.approvals where action_id = $1 for update', [
        pending.action_id,
      ]);
      const racing = Promise.allSettled(['alice', 'bob'].map((who) => decide(pending.action_id, who)));
      await waitUntil(async () => {
        const waiting = await h.pool.query(
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        );
        return waiting.rows[0].n >= 2;
      });
      await holder.query('commit');
      const statuses = (await racing).map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.code));
      expect(statuses.sort()).toEqual(['approved', 'pending']);
    } finally {
      await holder.end();
    }
  });
});

describe('cancel and expiry', () => {
  it('cancels a pending approval once; later commands answer already_decided', async () => {
    const pending = await submit({ context: { amount: 1500 } });
    const cancelled = await call(h.nc, 'cancel', {
      action_id: pending.action_id,
      cancelled_by: 'dave',
      reason: 'not needed',
    });
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      decided_by: 'dave',
      decision_reason: 'not needed',
    });
    expect((await refusal(call(h.nc, 'cancel', { action_id: pending.action_id }, { as: 'dave' }))).code).toBe(
      'already_decided',
    );
    expect((await refusal(decide(pending.action_id, 'frank'))).details).toMatchObject({
      status: 'cancelled',
    });
    expect((await decidedEvent(h.nc, pending.action_id)).data.status).toBe('cancelled');

    // A cancel names who cancels: the subject's identity, never a default.
    const anonymous = await refusal(
      call(h.nc, 'cancel', { action_id: (await submit({ context: { amount: 1500 } })).action_id }),
    );
    expect(anonymous.details?.fields).toEqual([expect.objectContaining({ path: 'cancelled_by' })]);
  });

  it('expires a pending approval past its deadline, with its decided event; deciding it answers expired', async () => {
    const pending = await submit({ context: { amount: 1500 }, timeout_seconds: 1 });
    expect(Date.parse(pending.expires_at) - Date.parse(pending.created_at)).toBe(1000);
    const expired = await waitUntil(
      async () => {
        const now = await call(h.nc, 'get', { action_id: pending.action_id });
        return now.status === 'expired' ? now : undefined;
      },
      { timeout: 10_000, message: 'the approval to expire' },
    );
    expect(expired).toMatchObject({ decided_by: 'countersign' });
    expect(Date.parse(expired.decided_at ?? '')).toBeGreaterThanOrEqual(Date.parse(pending.expires_at));
    expect((await decidedEvent(h.nc, pending.action_id)).data.status).toBe('expired');
    const late = await refusal(decide(pending.action_id, 'frank'));
    expect(late.code).toBe('expired');
    expect(late.details).toMatchObject({ status: 'expired', expires_at: pending.expires_at });
  });
});

describe('idempotency', () => {
  it('answers a re-submission of the same content with the same record and no new event', async () => {
    const req = request('idem', { context: { amount: 50, currency: 'EUR' } });
    const first = await call(h.nc, 'submit', req);
    // Same content, keys in another order.
    const reordered = Object.fromEntries(
      Object.entries({ ...req, context: { currency: 'EUR', amount: 50 } }).reverse(),
    );
    const second = await call(h.nc, 'submit', reordered as typeof req);
    expect(second).toEqual(first);
    await decidedEvent(h.nc, first.action_id);
    // Give the relay every chance to publish a second event, then count again.
    await call(h.nc, 'submit', req);
    await waitUntil(
      async () =>
        (await h.pool.query('select 1 from approval.outbox where published_at is null')).rowCount === 0,
    );
    expect(
      (await eventCounts(h.nc, Subjects.decided(first.action_id)))[Subjects.decided(first.action_id)],
    ).toBe(1);
    expect(
      (await h.pool.query('select 1 from approval.outbox where action_id = $1', [first.action_id])).rowCount,
    ).toBe(1);
  });

  it('refuses the same action_id with different content as idempotency_conflict, and audits the attempt', async () => {
    const req = request('conflict', { context: { amount: 1500 } });
    const first = await call(h.nc, 'submit', req);
    const conflict = await refusal(call(h.nc, 'submit', { ...req, context: { amount: 15 } }));
    expect(conflict.code).toBe('idempotency_conflict');
    const after = await call(h.nc, 'get', { action_id: req.action_id });
    expect(after).toMatchObject({
      status: 'pending',
      context: { amount: 1500 },
      created_at: first.created_at,
    });
    expect(after.history.map((e) => e.event)).toEqual(['requested', 'idempotency_conflict']);
  });
});

describe('list and stats', () => {
  it('filters by status, run, type and requester, newest first, with keyset pagination', async () => {
    const run_id = `run-${Date.now()}`;
    const made: Approval[] = [];
    for (const [i, overrides] of [
      { context: { amount: 50 } },
      { context: { amount: 1500 } },
      { context: { amount: 60 }, requested_by: 'erin' },
      { action_type: 'deploy', context: { environment: 'production' } },
      { context: { amount: 1600 } },
    ].entries()) {
      made.push(await submit({ run_id, ...overrides }, `list${i}`));
    }
    const all = await call(h.nc, 'list', { run_id });
    expect(all.items.map((a) => a.action_id)).toEqual(
      [...made]
        .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.action_id.localeCompare(a.action_id))
        .map((a) => a.action_id),
    );
    expect(all.next_cursor).toBeNull();

    const pending = await call(h.nc, 'list', { run_id, status: 'pending' });
    expect(pending.items.map((a) => a.action_id).sort()).toEqual(
      made
        .filter((a) => a.status === 'pending')
        .map((a) => a.action_id)
        .sort(),
    );
    expect(pending.items.length).toBe(3);
    expect(
      (await call(h.nc, 'list', { run_id, action_type: 'deploy' })).items.map((a) => a.action_type),
    ).toEqual(['deploy']);
    expect(
      (await call(h.nc, 'list', { run_id, requested_by: 'erin' })).items.map((a) => a.requested_by),
    ).toEqual(['erin']);

    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await call(h.nc, 'list', { run_id, limit: 2, ...(cursor ? { cursor } : {}) });
      pages.push(page.items.map((a) => a.action_id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(all.items.map((a) => a.action_id));

    expect((await refusal(call(h.nc, 'list', { cursor: 'garbage' }))).code).toBe('invalid_request');
    expect((await refusal(call(h.nc, 'list', { limit: 501 }))).code).toBe('invalid_request');
  });

  it('counts by status and measures the pending backlog and the time to decision', async () => {
    const before = await call(h.nc, 'stats', {});
    const pending = await submit({ context: { amount: 1500 } });
    const asked = Date.now();
    const during = await call(h.nc, 'stats', {});
    const answered = Date.now();
    expect(during.pending).toBe(before.pending + 1);
    expect(during.by_status.pending).toBe(during.pending);
    // The age of the oldest pending approval as the database measured it while the call ran:
    // between its age when the call was made and when it was answered (1 ms for rounding).
    const oldest = (
      await h.pool.query<{ at: Date }>(
        "select min(created_at) as at from approval.approvals where status = 'pending'",
      )
    ).rows[0]?.at.getTime() as number;
    expect(during.oldest_pending_age_seconds).toBeGreaterThanOrEqual((asked - oldest - 1) / 1000);
    expect(during.oldest_pending_age_seconds).toBeLessThanOrEqual((answered - oldest + 1) / 1000);
    await decide(pending.action_id, 'frank');
    const after = await call(h.nc, 'stats', {});
    expect(after.by_status.approved).toBe(during.by_status.approved + 1);
    expect(after.pending).toBe(before.pending);
    expect(after.median_decision_seconds).not.toBeNull();
    const total = Object.values(after.by_status).reduce((a, b) => a + b, 0);
    expect(total).toBe(Number((await h.pool.query('select count(*) from approval.approvals')).rows[0].count));
  });
});

describe('report', () => {
  it('adds the execution outcome of an approved approval, from its requester only, once', async () => {
    const approved = await submit({ context: { amount: 50 } });
    const other = await refusal(
      call(h.nc, 'report', { action_id: approved.action_id, outcome: 'executed', reported_by: 'eve' }),
    );
    expect(other.code).toBe('forbidden');
    await call(h.nc, 'report', {
      action_id: approved.action_id,
      outcome: 'executed',
      detail: 'paid',
      reported_by: 'dave',
    });
    await call(h.nc, 'report', {
      action_id: approved.action_id,
      outcome: 'executed',
      detail: 'paid',
      reported_by: 'dave',
    });
    const conflict = await refusal(
      call(h.nc, 'report', { action_id: approved.action_id, outcome: 'failed', reported_by: 'dave' }),
    );
    expect(conflict.code).toBe('idempotency_conflict');
    const history = (await call(h.nc, 'get', { action_id: approved.action_id })).history;
    expect(history.map((e) => e.event)).toEqual(['requested', 'approved', 'reported']);
    expect(history[2]).toMatchObject({ actor: 'dave', data: { outcome: 'executed', detail: 'paid' } });

    const pending = await submit({ context: { amount: 1500 } });
    const early = await refusal(
      call(h.nc, 'report', { action_id: pending.action_id, outcome: 'executed', reported_by: 'dave' }),
    );
    expect(early.code).toBe('invalid_request');
  });
});

describe('audit trail', () => {
  it('records every transition and vote with actor, reason and time, in a verifiable hash chain', async () => {
    const pending = await submit({ context: { amount: 20_000 } });
    await decide(pending.action_id, 'alice', true, 'looks right');
    await decide(pending.action_id, 'frank', true, 'agreed');
    const { history } = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(history.map((e) => [e.seq, e.event, e.actor, e.reason])).toEqual([
      [1, 'requested', 'dave', null],
      [2, 'voted', 'alice', 'looks right'],
      [3, 'voted', 'frank', 'agreed'],
      [4, 'approved', 'frank', 'agreed'],
    ]);
    expect(verifyAuditChain(pending.action_id, history, TEST_AUDIT_KEYS)).toEqual({ ok: true });
  });

  it('refuses to change audit rows, votes or a decided approval, and detects a tampered row', async () => {
    const approval = await submit({ context: { amount: 1500 } });
    await decide(approval.action_id, 'frank', true, 'ok');
    const id = approval.action_id;
    await expect(
      admin.query("update approval.audit_events set actor = 'mallory' where action_id = $1", [id]),
    ).rejects.toThrow(/append-only/);
    await expect(admin.query('delete from approval.audit_events where action_id = $1', [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(admin.query('delete from approval.votes where action_id = $1', [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(
      admin.query("update approval.approvals set status = 'rejected' where action_id = $1", [id]),
    ).rejects.toThrow(/can never change/);

    // A superuser can switch the guard off; the chain still gives the edit away.
    await admin.query('alter table approval.audit_events disable trigger audit_events_append_only');
    try {
      await admin.query(
        "update approval.audit_events set reason = 'forged' where action_id = $1 and seq = 2",
        [id],
      );
    } finally {
      await admin.query('alter table approval.audit_events enable trigger audit_events_append_only');
    }
    const { history } = await call(h.nc, 'get', { action_id: id });
    expect(verifyAuditChain(id, history, TEST_AUDIT_KEYS)).toMatchObject({ ok: false, seq: 2 });
  });
});
