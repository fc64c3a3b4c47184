/**
 * The HTTP API against a real PostgreSQL, nats-server and policy service: every endpoint, the
 * same records and error codes as the NATS commands, bearer-token auth, and the limits of the
 * HTTP layer (body size, content type, malformed JSON, unknown routes and methods).
 */
import { waitUntil } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

// The expiry loop is slowed down so that the cleanup endpoint is what expires things here.
const h = await startHttpHarness('http_api', { config: { expiryIntervalMs: 600_000 } });
const admin = new pg.Client({ connectionString: h.db.url });
await admin.connect();
afterAll(() => admin.end());

const pendingPayment = async (overrides: Parameters<typeof request>[1] = {}) => {
  const res = await h.api('POST', '/api/v1/approvals', {
    as: 'dave',
    body: request('http', { context: { amount: 1500 }, ...overrides }),
  });
  expect(res.status).toBe(200);
  expect(res.json.status).toBe('pending');
  return res.json as { action_id: string; expires_at: string };
};

describe('authentication', () => {
  it('answers 401 without a token, with a bad token and with another scheme, and changes nothing', async () => {
    const body = request('anon', { context: { amount: 1500 } });
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer not-a-configured-token' },
      { authorization: `Basic ${h.tokens.alice}` },
    ];
    for (const headers of attempts) {
      const res = await h.api('POST', '/api/v1/approvals', { body, headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.json).toMatchObject({
        error: { code: 'forbidden', details: { reason: 'unauthenticated' } },
      });
    }
    expect((await h.api('GET', '/api/v1/approvals')).status).toBe(401);
    expect((await h.api('GET', `/api/v1/approvals/${body.action_id}`, { as: 'alice' })).json.error.code).toBe(
      'not_found',
    );
  });
});

describe('POST /api/v1/approvals', () => {
  it('submits as the token identity and answers the same record as approval.get', async () => {
    const req = request('sub', { context: { amount: 1500 } });
    const { requested_by: _, ...withoutRequester } = req;
    const res = await h.api('POST', '/api/v1/approvals', { as: 'dave', body: withoutRequester });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json).toMatchObject({ action_id: req.action_id, requested_by: 'dave', status: 'pending' });
    const { history: _h, ...overNats } = await call(h.nc, 'get', { action_id: req.action_id });
    expect(res.json).toEqual(overNats);

    // Same content again: the same record; different content: idempotency_conflict.
    const again = await h.api('POST', '/api/v1/approvals', { as: 'dave', body: req });
    expect(again.json).toEqual(res.json);
    const conflict = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: { ...req, description: 'something else' },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('idempotency_conflict');
  });

  it('refuses a requested_by other than the token identity', async () => {
    const res = await h.api('POST', '/api/v1/approvals', {
      as: 'alice',
      body: request('spoof', { context: { amount: 1500 }, requested_by: 'dave' }),
    });
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({
      code: 'forbidden',
      details: { reasons: [{ code: 'actor_mismatch' }] },
    });
  });

  it('answers invalid_request naming the bad fields, for malformed JSON and for a non-object', async () => {
    const missing = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: { action_id: 'no-description', action_type: 'payment' },
    });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe('invalid_request');
    expect(missing.json.error.details.fields.map((f: { path: string }) => f.path)).toContain('description');

    const malformed = await h.api('POST', '/api/v1/approvals', { as: 'dave', body: '{"action_id": "x",' });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/JSON/),
    });

    const array = await h.api('POST', '/api/v1/approvals', { as: 'dave', body: '[1,2]' });
    expect(array.status).toBe(400);
    expect(array.json.error.code).toBe('invalid_request');
  });

  it('refuses a body that is not JSON by content type (415) and one over the limit (413)', async () => {
    const req = request('ctype', { context: { amount: 1500 } });
    const wrongType = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: JSON.stringify(req),
      headers: { 'content-type': 'text/plain' },
    });
    expect(wrongType.status).toBe(415);
    expect(wrongType.json.error.code).toBe('invalid_request');

    const huge = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: { ...request('huge'), context: { blob: 'x'.repeat(70 * 1024) } },
    });
    expect(huge.status).toBe(413);
    expect(huge.json.error).toMatchObject({ code: 'payload_too_large', details: { limit: 64 * 1024 } });
    // Neither was recorded.
    expect((await h.api('GET', `/api/v1/approvals/${req.action_id}`, { as: 'alice' })).status).toBe(404);
  });
});

describe('GET /api/v1/approvals and /api/v1/approvals/{id}', () => {
  it('lists with filters and keyset pages, like approval.list', async () => {
    const run_id = `run-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await pendingPayment({ run_id })).action_id);
    const first = await h.api('GET', `/api/v1/approvals?run_id=${run_id}&status=pending&limit=2`, {
      as: 'alice',
    });
    expect(first.status).toBe(200);
    expect(first.json.items).toHaveLength(2);
    expect(first.json.next_cursor).toEqual(expect.any(String));
    const second = await h.api(
      'GET',
      `/api/v1/approvals?run_id=${run_id}&status=pending&limit=2&cursor=${encodeURIComponent(first.json.next_cursor)}`,
      { as: 'alice' },
    );
    expect(second.json).toMatchObject({ next_cursor: null });
    const listed = [...first.json.items, ...second.json.items].map((a: { action_id: string }) => a.action_id);
    expect(listed.sort()).toEqual([...ids].sort());
    expect(await call(h.nc, 'list', { run_id, status: 'pending', limit: 2 })).toEqual(first.json);

    const byType = await h.api(
      'GET',
      `/api/v1/approvals?run_id=${run_id}&action_type=deploy&requested_by=dave`,
      {
        as: 'alice',
      },
    );
    expect(byType.json.items).toEqual([]);
  });

  it('refuses bad list parameters: limit, unknown, repeated, a foreign cursor', async () => {
    for (const query of [
      'limit=0',
      'limit=abc',
      'colour=red',
      'status=pending&status=approved',
      'status=open',
      'cursor=bm90LWEtY3Vyc29y',
    ]) {
      const res = await h.api('GET', `/api/v1/approvals?${query}`, { as: 'alice' });
      expect(res.status, query).toBe(400);
      expect(res.json.error.code, query).toBe('invalid_request');
    }
  });

  it('gets one approval with its audit history; unknown is not_found, a malformed id invalid_request', async () => {
    const { action_id } = await pendingPayment();
    const res = await h.api('GET', `/api/v1/approvals/${action_id}`, { as: 'bob' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(await call(h.nc, 'get', { action_id }));
    expect(res.json.history.map((e: { event: string }) => e.event)).toEqual(['requested']);

    const missing = await h.api('GET', '/api/v1/approvals/no-such-approval', { as: 'bob' });
    expect(missing.status).toBe(404);
    expect(missing.json.error).toMatchObject({
      code: 'not_found',
      details: { action_id: 'no-such-approval' },
    });
    const malformed = await h.api('GET', '/api/v1/approvals/has.dots', { as: 'bob' });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe('invalid_request');
  });
});

describe('POST /api/v1/approvals/{id}/decide', () => {
  it('decides as the token identity; a second decision is already_decided', async () => {
    const { action_id } = await pendingPayment();
    const res = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'alice',
      body: { approved: true, reason: 'invoice checked' },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      status: 'approved',
      decided_by: 'alice',
      decision_reason: 'invoice checked',
      votes: [{ voter: 'alice', approved: true }],
    });
    const again = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'frank',
      body: { approved: false },
    });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({
      code: 'already_decided',
      details: { status: 'approved', decided_by: 'alice' },
    });
  });

  it('never lets the body choose the decider: another decided_by is refused, the same one accepted', async () => {
    const { action_id } = await pendingPayment();
    const spoofed = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'bob',
      body: { approved: true, decided_by: 'alice' },
    });
    expect(spoofed.status).toBe(403);
    expect(spoofed.json.error.details.reasons[0].code).toBe('actor_mismatch');
    expect((await call(h.nc, 'get', { action_id })).votes).toEqual([]);

    const same = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'frank',
      body: { approved: false, decided_by: 'frank', reason: 'duplicate invoice' },
    });
    expect(same.json).toMatchObject({ status: 'rejected', decided_by: 'frank' });
  });

  it('answers forbidden when the policy refuses the identity (no finance role), with its reasons', async () => {
    const { action_id } = await pendingPayment();
    const res = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'bob',
      body: { approved: true },
    });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('forbidden');
    expect(res.json.error.details.reasons.length).toBeGreaterThan(0);
  });

  it('answers invalid_request for a bad body and a body naming another action_id; not_found for none', async () => {
    const { action_id } = await pendingPayment();
    const noVerdict = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, { as: 'alice', body: {} });
    expect(noVerdict.status).toBe(400);
    expect(noVerdict.json.error.details.fields.map((f: { path: string }) => f.path)).toContain('approved');
    const otherId = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'alice',
      body: { action_id: 'another-one', approved: true },
    });
    expect(otherId.status).toBe(400);
    const missing = await h.api('POST', '/api/v1/approvals/never-submitted/decide', {
      as: 'alice',
      body: { approved: true },
    });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('not_found');
  });

  it('answers expired (410) after the deadline', async () => {
    const { action_id, expires_at } = await pendingPayment({ timeout_seconds: 1 });
    await waitUntil(() => Date.now() > Date.parse(expires_at) + 50, { message: 'the deadline to pass' });
    const res = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
      as: 'alice',
      body: { approved: true },
    });
    expect(res.status).toBe(410);
    expect(res.json.error).toMatchObject({ code: 'expired', details: { status: 'expired' } });
  });

  it('answers internal (500) without internals when the database refuses the write', async () => {
    const { action_id } = await pendingPayment();
    // A test-only trigger makes this one vote fail inside the database.
    await admin.query(`
      create or replace function approval.test_refuse_vote() returns trigger language plpgsql as $$
      begin
        if new.action_id = '${action_id}' then raise exception 'test: refusing this vote (secret detail)'; end if;
        return new;
      end $$;
      create trigger test_refuse_vote before insert on approval.votes
        for each row execute function approval.test_refuse_vote();`);
    try {
      const res = await h.api('POST', `/api/v1/approvals/${action_id}/decide`, {
        as: 'alice',
        body: { approved: true },
      });
      expect(res.status).toBe(500);
      expect(res.json).toEqual({ error: { code: 'internal', message: 'internal error' } });
      expect(res.text).not.toContain('secret detail');
      expect((await call(h.nc, 'get', { action_id })).status).toBe('pending');
    } finally {
      await admin.query('drop trigger test_refuse_vote on approval.votes');
    }
  });
});

describe('cancel, report, stats, cleanup', () => {
  it('cancels as the token identity; again is already_decided', async () => {
    const { action_id } = await pendingPayment();
    const res = await h.api('POST', `/api/v1/approvals/${action_id}/cancel`, {
      as: 'dave',
      body: { reason: 'not needed' },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      status: 'cancelled',
      decided_by: 'dave',
      decision_reason: 'not needed',
    });
    const again = await h.api('POST', `/api/v1/approvals/${action_id}/cancel`, { as: 'dave' });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('already_decided');
    const spoofed = await h.api('POST', `/api/v1/approvals/${(await pendingPayment()).action_id}/cancel`, {
      as: 'alice',
      body: { cancelled_by: 'dave' },
    });
    expect(spoofed.status).toBe(403);
  });

  it('reports the outcome as the requester only', async () => {
    const { action_id } = await pendingPayment();
    await h.api('POST', `/api/v1/approvals/${action_id}/decide`, { as: 'alice', body: { approved: true } });
    const notRequester = await h.api('POST', `/api/v1/approvals/${action_id}/report`, {
      as: 'alice',
      body: { outcome: 'executed' },
    });
    expect(notRequester.status).toBe(403);
    const res = await h.api('POST', `/api/v1/approvals/${action_id}/report`, {
      as: 'dave',
      body: { outcome: 'executed', detail: 'paid' },
    });
    expect(res.status).toBe(200);
    const history = (await call(h.nc, 'get', { action_id })).history;
    expect(history.at(-1)).toMatchObject({ event: 'reported', actor: 'dave', data: { outcome: 'executed' } });
  });

  it('answers stats like approval.stats', async () => {
    await pendingPayment();
    const res = await h.api('GET', '/api/v1/stats', { as: 'carol' });
    expect(res.status).toBe(200);
    expect(res.json.pending).toBeGreaterThan(0);
    expect(res.json.by_status).toMatchObject({ pending: res.json.pending });
  });

  it('cleanup expires what is overdue, now', async () => {
    const { action_id, expires_at } = await pendingPayment({ timeout_seconds: 1 });
    await waitUntil(() => Date.now() > Date.parse(expires_at) + 50, { message: 'the deadline to pass' });
    expect((await call(h.nc, 'get', { action_id })).status).toBe('pending');
    expect((await h.api('POST', '/api/v1/approvals/cleanup')).status).toBe(401);
    const res = await h.api('POST', '/api/v1/approvals/cleanup', { as: 'carol' });
    expect(res.status).toBe(200);
    expect(res.json.expired).toBeGreaterThanOrEqual(1);
    expect(await call(h.nc, 'get', { action_id })).toMatchObject({
      status: 'expired',
      decided_by: 'countersign',
    });
  });
});

describe('POST /api/v1/policy/evaluate', () => {
  it('answers what policy.evaluate answers, as the token identity, and stores nothing', async () => {
    const req = request('eval', { context: { amount: 1500 } });
    const { requested_by: _, ...withoutRequester } = req;
    expect((await h.api('POST', '/api/v1/policy/evaluate', { body: req })).status).toBe(401);
    const res = await h.api('POST', '/api/v1/policy/evaluate', { as: 'dave', body: withoutRequester });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      outcome: 'needs_approval',
      approver_roles: ['finance'],
      revision: expect.any(String),
      decision_id: expect.any(String),
    });
    const { decision_id: _d, ...overNats } = await call(h.nc, 'evaluate', req);
    const { decision_id: _e, ...overHttp } = res.json;
    expect(overHttp).toEqual(overNats);
    expect((await h.api('GET', `/api/v1/approvals/${req.action_id}`, { as: 'alice' })).status).toBe(404);
  });

  it('refuses another requester, a bad body (naming the fields) and an oversized one', async () => {
    const spoof = await h.api('POST', '/api/v1/policy/evaluate', {
      as: 'alice',
      body: request('eval-spoof', { requested_by: 'dave' }),
    });
    expect(spoof.status).toBe(403);
    expect(spoof.json.error.details.reasons[0].code).toBe('actor_mismatch');

    const bad = await h.api('POST', '/api/v1/policy/evaluate', {
      as: 'dave',
      body: { action_id: 'eval bad', action_type: 'payment', context: { amount: -1 } },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_request');
    expect(bad.json.error.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(
      expect.arrayContaining(['action_id', 'context.amount', 'description']),
    );

    const huge = await h.api('POST', '/api/v1/policy/evaluate', {
      as: 'dave',
      body: { ...request('eval-huge'), context: { blob: 'x'.repeat(70 * 1024) } },
    });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('payload_too_large');
  });
});

describe('routing', () => {
  it('answers not_found for an unknown path and 405 with Allow for a wrong method', async () => {
    const unknown = await h.api('GET', '/api/v1/nothing-here', { as: 'alice' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('not_found');
    const wrong = await h.api('DELETE', '/api/v1/approvals/some-id', { as: 'alice' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
    expect(wrong.json.error.code).toBe('invalid_request');
  });

  it('sets the security headers on every answer', async () => {
    const res = await h.api('GET', '/api/v1/approvals', { as: 'alice' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});
