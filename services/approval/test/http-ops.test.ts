/**
 * Operating the HTTP side: /healthz, /readyz (Postgres, NATS, the policy service; 503 while
 * draining and when the policy service is gone), /metrics with the documented series, and the
 * server-sent event stream fed from the NATS events.
 */
import { CountersignError, Subjects } from '@countersign/contracts';
import { spawnService, waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/http/server.js';
import { decide } from '../src/lifecycle/index.js';
import { createApprovalMetrics } from '../src/metrics.js';
import { startHttpHarness } from './http-support.js';
import { call, request, testLogger } from './support.js';

const h = await startHttpHarness('http_ops');

const metricsText = async () => {
  const res = await fetch(`${h.base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
};

/** The value of one series in Prometheus text, or undefined. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('health', () => {
  it('healthz answers while the process runs; readyz when Postgres, NATS and the policy answer', async () => {
    const health = await fetch(`${h.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${h.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: {
        postgres: { ok: true },
        nats: { ok: true },
        policy: { ok: true, revision: expect.any(String) },
      },
    });
  });

  it('readyz answers 503 while the server drains', async () => {
    const second = await startHttpServer({
      service: h.service,
      nc: h.nc,
      logger: testLogger,
      tokens: [],
      settings: { ...h.httpSettings, drainMs: 2_000 },
    });
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    const stopping = second.stop();
    const draining = await fetch(`${second.url}/readyz`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toEqual({ status: 'draining' });
    await stopping;
    await expect(fetch(`${second.url}/healthz`)).rejects.toThrow();
  });
});

/** What the database gauges are read from, as the test sees it. */
const gaugeSources = async () =>
  (
    await h.pool.query(
      `select
         (select count(*)::int from approval.approvals where status = 'pending') as pending,
         (select min(created_at) from approval.approvals where status = 'pending') as oldest_pending,
         (select count(*)::int from approval.outbox where published_at is null) as outbox,
         (select min(created_at) from approval.outbox where published_at is null) as oldest_outbox,
         (select max(id)::text from approval.outbox) as last_outbox,
         (select max(published_at) from approval.outbox) as last_published`,
    )
  ).rows[0] as {
    pending: number;
    oldest_pending: Date | null;
    outbox: number;
    oldest_outbox: Date | null;
    last_outbox: string | null;
    last_published: Date | null;
  };

/**
 * The pending and outbox gauges say what the database held when scraped: counts equal, ages
 * between the oldest row's age when the scrape was asked for and when it was answered (1 ms for
 * rounding), 0 when there is none. The database is read on both sides of a scrape until the two
 * readings agree, since the relay may publish in between; the newest outbox row and the latest
 * publication are part of the readings, so a row written and published during the scrape (the
 * counts equal on both sides, not in the scrape) makes them differ too.
 */
async function expectDatabaseGauges(): Promise<void> {
  const { text, held, asked, answered } = await waitUntil(
    async () => {
      const before = await gaugeSources();
      const asked = Date.now();
      const text = await metricsText();
      const answered = Date.now();
      const after = await gaugeSources();
      return JSON.stringify(before) === JSON.stringify(after) && { text, held: before, asked, answered };
    },
    { message: 'a scrape with the database unchanged around it' },
  );
  const expectAge = (series: string, since: Date | null) => {
    const age = sample(text, series);
    if (since === null) return expect(age, series).toBe(0);
    expect(age, series).toBeGreaterThanOrEqual((asked - since.getTime() - 1) / 1000);
    expect(age, series).toBeLessThanOrEqual((answered - since.getTime() + 1) / 1000);
  };
  expect(sample(text, 'countersign_approvals_pending')).toBe(held.pending);
  expectAge('countersign_approvals_oldest_pending_age_seconds', held.oldest_pending);
  expect(sample(text, 'countersign_outbox_backlog')).toBe(held.outbox);
  expectAge('countersign_outbox_oldest_age_seconds', held.oldest_outbox);
}

describe('metrics', () => {
  it('exposes approvals by status and type, backlog, latency and errors by code', async () => {
    const pending = await call(h.nc, 'submit', request('metrics', { context: { amount: 1500 } }));
    const decided = await call(h.nc, 'submit', request('metrics', { context: { amount: 1500 } }));
    await h.api('POST', `/api/v1/approvals/${decided.action_id}/decide`, {
      as: 'alice',
      body: { approved: true },
    });
    await h.api('POST', `/api/v1/approvals/${pending.action_id}/decide`, {
      as: 'bob',
      body: { approved: true },
    });
    await call(h.nc, 'get', { action_id: 'no-such-approval' }).catch(() => {});
    // An intake message with an action_id but invalid content: recorded as rejected.
    await h.js.publish(
      Subjects.requestedBy('dave'),
      JSON.stringify({ action_id: `bad-intake-${Date.now()}` }),
    );

    const text = await waitUntil(
      async () => {
        const t = await metricsText();
        return t.includes('countersign_intake_errors_total{code="invalid_request",disposition="rejected"}')
          ? t
          : undefined;
      },
      { message: 'the intake error to be counted' },
    );
    expect(
      sample(text, 'countersign_approvals{status="pending",action_type="payment"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'countersign_approvals{status="approved",action_type="payment"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'countersign_approvals_pending')).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'countersign_approvals_by_requester{status="pending",requested_by="dave"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'countersign_approvals_by_requester{status="approved",requested_by="dave"}'),
    ).toBeGreaterThanOrEqual(1);
    await expectDatabaseGauges();
    expect(
      sample(text, 'countersign_decision_latency_seconds_count{status="approved"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'countersign_command_errors_total{transport="http",command="decide",code="forbidden"}'),
    ).toBe(1);
    expect(
      sample(text, 'countersign_command_errors_total{transport="nats",command="get",code="not_found"}'),
    ).toBe(1);
    expect(sample(text, 'countersign_http_requests_total{route="decide",method="POST",status="200"}')).toBe(
      1,
    );
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('counts each decision once, whichever door it came through, and never a rolled-back one', async () => {
    const count = async (status: 'approved' | 'rejected') =>
      sample(await metricsText(), `countersign_decision_latency_seconds_count{status="${status}"}`) ?? 0;
    const pendingOne = async (label: string, amount = 1500) => {
      const approval = await call(h.nc, 'submit', request(label, { context: { amount } }));
      expect(approval.status).toBe('pending');
      return approval.action_id;
    };
    const postForm = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${h.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
      });
    const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    const approved = await count('approved');
    const rejected = await count('rejected');

    // NATS command.
    await call(h.nc, 'decide', {
      action_id: await pendingOne('door-nats'),
      approved: true,
      decided_by: 'alice',
    });
    expect(await count('approved')).toBe(approved + 1);

    // HTTP API.
    const viaApi = await h.api('POST', `/api/v1/approvals/${await pendingOne('door-api')}/decide`, {
      as: 'alice',
      body: { approved: false },
    });
    expect(viaApi.status).toBe(200);
    expect(await count('rejected')).toBe(rejected + 1);

    // Review link: open the page, post its form.
    const reviewed = await call(h.nc, 'get', { action_id: await pendingOne('door-review') });
    const link = h.reviewLink(reviewed.action_id, 'frank', reviewed.expires_at);
    const reviewPage = await fetch(link);
    expect(reviewPage.status).toBe(200);
    const viaLink = await postForm(`/approvals/${reviewed.action_id}/review`, {
      token: new URL(link).searchParams.get('token') as string,
      csrf: csrfOf(await reviewPage.text()),
      decision: 'approve',
    });
    expect(viaLink.status).toBe(200);
    expect(await count('approved')).toBe(approved + 2);

    // Dashboard: sign in with the token, open the approval, post its form.
    const signedIn = await postForm('/dashboard/login', { token: h.tokens.alice });
    expect(signedIn.status).toBe(303);
    const cookie = (signedIn.headers.get('set-cookie') as string).split(';')[0] as string;
    const onDashboard = await pendingOne('door-dashboard');
    const detail = await fetch(`${h.base}/dashboard/approvals/${onDashboard}`, { headers: { cookie } });
    expect(detail.status).toBe(200);
    const viaDashboard = await postForm(
      `/dashboard/approvals/${onDashboard}/decide`,
      { csrf: csrfOf(await detail.text()), decision: 'approve' },
      { cookie },
    );
    expect(viaDashboard.status).toBe(303);
    expect(viaDashboard.headers.get('location')).toContain('result=approved');
    expect((await call(h.nc, 'get', { action_id: onDashboard })).status).toBe('approved');
    expect(await count('approved')).toBe(approved + 3);

    // A vote that leaves the approval pending observes nothing; the one that completes it, once.
    const twoApprovers = await pendingOne('door-two', 20_000);
    await call(h.nc, 'decide', { action_id: twoApprovers, approved: true, decided_by: 'alice' });
    expect(await count('approved')).toBe(approved + 3);
    await call(h.nc, 'decide', { action_id: twoApprovers, approved: true, decided_by: 'frank' });
    expect(await count('approved')).toBe(approved + 4);

    // A vote whose transaction rolls back (its hook throws, as a spent review link's burn does)
    // is neither recorded nor counted.
    const rolledBack = await pendingOne('door-rollback');
    await expect(
      decide(h.service.deps, { action_id: rolledBack, approved: true }, 'alice', {
        inTransaction: async () => {
          throw new CountersignError('already_decided', 'refused inside the vote transaction');
        },
      }),
    ).rejects.toThrow('refused inside the vote transaction');
    expect(await call(h.nc, 'get', { action_id: rolledBack })).toMatchObject({
      status: 'pending',
      votes: [],
    });
    expect(await count('approved')).toBe(approved + 4);
    expect(await count('rejected')).toBe(rejected + 1);
  });

  it('reports the readiness checks as countersign_ready', async () => {
    const text = await metricsText();
    for (const check of ['postgres', 'nats', 'policy'])
      expect(sample(text, `countersign_ready{check="${check}"}`), check).toBe(1);
  });

  it('reuses a database reading for METRICS_CACHE, while the ages keep growing', async () => {
    const cached = createApprovalMetrics({ pool: h.pool, logger: testLogger, cacheMs: 60_000 });
    await call(h.nc, 'submit', request('cached-before', { context: { amount: 1500 } }));
    const first = await cached.render();
    const pendingBefore = sample(first, 'countersign_approvals_pending') ?? 0;
    expect(pendingBefore).toBeGreaterThanOrEqual(1);
    // A new pending approval: an uncached scrape sees it, the cached one does not (yet).
    await call(h.nc, 'submit', request('cached-after', { context: { amount: 1500 } }));
    expect(sample(await metricsText(), 'countersign_approvals_pending')).toBe(pendingBefore + 1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await cached.render();
    expect(sample(second, 'countersign_approvals_pending')).toBe(pendingBefore);
    const age = (text: string) => sample(text, 'countersign_approvals_oldest_pending_age_seconds') ?? 0;
    expect(age(second)).toBeGreaterThanOrEqual(age(first) + 1);
  });

  it('keeps each instance in its own registry', async () => {
    const other = createApprovalMetrics({ pool: h.pool, logger: testLogger });
    other.commandError('nats', 'decide', 'forbidden');
    expect(await other.render()).toContain(
      'countersign_command_errors_total{transport="nats",command="decide",code="forbidden"} 1',
    );
    expect(await metricsText()).not.toContain('command="decide",code="forbidden"} 2');
  });
});

describe('event stream', () => {
  it('needs a token, streams pending and decided events, sends heartbeats and lets go on disconnect', async () => {
    expect((await fetch(`${h.base}/api/v1/events`)).status).toBe(401);
    const abort = new AbortController();
    const res = await fetch(`${h.base}/api/v1/events`, {
      headers: { authorization: `Bearer ${h.tokens.alice}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = '';
    /** Reads until a complete SSE message (or comment) satisfies `match`, and returns it. */
    const readMessage = async (match: (message: string) => boolean): Promise<string> => {
      for (;;) {
        const complete = received.split('\n\n').slice(0, -1);
        const found = complete.find(match);
        if (found !== undefined) return found;
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        received += decoder.decode(value, { stream: true });
      }
    };
    const readUntil = (needle: string) => readMessage((m) => m.includes(needle));
    await readUntil(': connected');
    await waitUntil(async () => sample(await metricsText(), 'countersign_sse_clients') === 1, {
      message: 'the stream to be counted',
    });

    const approval = await call(h.nc, 'submit', request('sse', { context: { amount: 1500 } }));
    const about = (type: string) => (m: string) =>
      m.includes(`event: ${type}`) && m.includes(`"action_id":"${approval.action_id}"`);
    const pendingMessage = await readMessage(about('approval.pending'));
    expect(pendingMessage).toMatch(/^id: \S+\nevent: approval.pending\ndata: \{/);
    await call(h.nc, 'decide', { action_id: approval.action_id, approved: false, decided_by: 'frank' });
    const decidedMessage = await readMessage(about('approval.decided'));
    expect(JSON.parse(decidedMessage.split('\ndata: ')[1] as string)).toMatchObject({
      type: 'approval.decided',
      data: { action_id: approval.action_id, status: 'rejected', decided_by: 'frank' },
    });
    await readUntil(': heartbeat');

    abort.abort();
    await reader.cancel().catch(() => {});
    await waitUntil(async () => sample(await metricsText(), 'countersign_sse_clients') === 0, {
      message: 'the closed stream to be dropped',
    });
  });
});

describe('the service process', () => {
  it('serves HTTP when HTTP_PORT is set, logs its URL in the ready line and never logs secrets', async () => {
    const apiToken = `process-token-${Date.now()}-0123456789`;
    const reviewSecret = `review-secret-${'x'.repeat(32)}`;
    const proc = await spawnService('approval', {
      env: {
        NATS_URL: h.nats.url,
        DATABASE_URL: h.db.url,
        HTTP_PORT: '0',
        REVIEW_LINK_SECRET: reviewSecret,
        API_TOKENS: `${apiToken}:alice`,
      },
    });
    const ready = proc.logs().find((l) => l.includes('"msg":"ready"')) as string;
    const url = JSON.parse(ready).http_url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const listed = await fetch(`${url}/api/v1/approvals?limit=1`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    expect(listed.status).toBe(200);
    await proc.stop();
    const logs = proc.logs().join('\n');
    expect(logs).not.toContain(apiToken);
    expect(logs).not.toContain(reviewSecret);
  });
});

// Last: the policy service does not come back.
describe('without the policy service', () => {
  it('readyz answers 503 naming the policy; submitting and evaluating answer unavailable', async () => {
    await h.policy.stop();
    const ready = await waitUntil(async () => {
      const res = await fetch(`${h.base}/readyz`);
      return res.status === 503 ? res : undefined;
    });
    expect(await ready.json()).toMatchObject({
      status: 'not_ready',
      checks: {
        postgres: { ok: true },
        nats: { ok: true },
        policy: { ok: false, error: expect.any(String) },
      },
    });
    const res = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: request('nopolicy', { context: { amount: 1500 } }),
    });
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('unavailable');
    const evaluated = await h.api('POST', '/api/v1/policy/evaluate', {
      as: 'dave',
      body: request('nopolicy-eval', { context: { amount: 1500 } }),
    });
    expect(evaluated.status).toBe(503);
    expect(evaluated.json.error.code).toBe('unavailable');
  });
});
