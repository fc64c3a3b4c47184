/**
 * Hostile input end to end, where the service tests do not already cover it: markup and script
 * in every field an approval shows on the dashboard (list, detail, fragments, a reflected
 * filter), deeply nested and oversized JSON on NATS, the intake and HTTP, SQL-looking filter
 * values, and unknown fields. (Email HTML and review pages are covered by the notifier's and
 * the approval service's own tests.)
 */
import { randomBytes } from 'node:crypto';
import { CountersignError, MAX_CONTEXT_DEPTH, MAX_PAYLOAD_BYTES, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { call, httpUrlOf, payment, startSystem } from './support.js';

const tokens = {
  frank: `frank-${randomBytes(16).toString('hex')}`,
  dave: `dave-${randomBytes(16).toString('hex')}`,
};
const sys = await startSystem('hostile', {
  HTTP_PORT: '0',
  REVIEW_LINK_SECRET: randomBytes(32).toString('hex'),
  API_TOKENS: `${tokens.frank}:frank,${tokens.dave}:dave`,
});
const base = httpUrlOf(sys.approval) as string;

async function api(method: string, path: string, body?: string, contentType = 'application/json') {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens.dave}`,
      ...(body === undefined ? {} : { 'content-type': contentType }),
    },
    ...(body === undefined ? {} : { body }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON of any shape; tests assert on it.
  const json: any = await res.json();
  return { status: res.status, json };
}

/** The code a NATS command fails with ('ok' if it succeeds). */
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof CountersignError ? err.code : String(err)),
  );

const SCRIPT = '<script>alert(1)</script>';

describe('markup in approvals on the dashboard', () => {
  it('is shown as text in the list, the detail view, its fragments and a reflected filter', async () => {
    const hostile = await call(sys.nc, 'submit', {
      action_id: 'hostile-markup',
      // No spaces or control characters: allowed in an action_type.
      action_type: '<img/src=x/onerror=alert(2)>',
      description: `Pay ${SCRIPT} & "quote"`,
      requested_by: 'dave',
      run_id: '"><svg/onload=alert(3)>',
      // Production: it waits for ops, so it is on the dashboard's pending list.
      context: { environment: 'production', '<iframe src=x>': `'"><script>alert(4)</script>` },
    });
    // Signing in is a form post from the dashboard's own origin.
    const login = await fetch(`${base}/dashboard/login`, {
      method: 'POST',
      headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.frank }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const page = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { cookie } });
      expect(res.status).toBe(200);
      return res.text();
    };
    const id = encodeURIComponent(hostile.action_id);
    const pages = {
      list: await page('/dashboard'),
      reflected: await page(
        `/dashboard?action_type=${encodeURIComponent(`">${SCRIPT}`)}&run_id=${encodeURIComponent(SCRIPT)}`,
      ),
      listFragment: await page('/dashboard/fragments/list'),
      detail: await page(`/dashboard/approvals/${id}`),
      panel: await page(`/dashboard/fragments/approvals/${id}`),
    };
    for (const [name, text] of Object.entries(pages)) {
      for (const raw of ['<script>alert', '<img/src', '<svg', '<iframe']) {
        expect({ name, found: text.includes(raw) ? raw : null }).toEqual({ name, found: null });
      }
    }
    expect(pages.detail).toContain('Pay &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quote&quot;');
    expect(pages.detail).toContain('&lt;iframe src=x&gt;');
    expect(pages.list).toContain('&lt;img/src=x/onerror=alert(2)&gt;');
    expect(pages.reflected).toContain('&quot;&gt;&lt;script&gt;');
  });
});

describe('deeply nested and oversized JSON', () => {
  // 20,000 levels of arrays in the context: well under 64 KiB.
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
  const deepRequest = (id: string) =>
    `{"action_id":"${id}","action_type":"payment","description":"deep","requested_by":"dave","context":{"amount":1,"deep":${deep}}}`;

  it('answers a structured error or a rejection, never internal, on NATS, the intake and HTTP', async () => {
    const answer = await sys.nc.request('approval.submit.dave', deepRequest('hostile-deep-sync'), {
      timeout: 10_000,
    });
    const text = new TextDecoder().decode(answer.data);
    expect(text).not.toContain('"internal"');
    for (const subject of ['approval.decide.frank', 'approval.list', 'policy.evaluate', 'policy.authorize']) {
      const reply = await sys.nc.request(subject, deep, { timeout: 10_000 });
      expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('400');
    }
    const http = await api('POST', '/api/v1/approvals', deepRequest('hostile-deep-http'));
    expect({ status: http.status, code: http.json.error.code }).toEqual({
      status: 400,
      code: 'invalid_request',
    });
    // The intake records it (accepted or rejected) instead of retrying it forever.
    await sys.js.publish(Subjects.requestedBy('dave'), deepRequest('hostile-deep-intake'), {
      msgID: 'hostile-deep-intake',
    });
    const recorded = await waitUntil(
      () => call(sys.nc, 'get', { action_id: 'hostile-deep-intake' }).catch(() => undefined),
      {
        timeout: 15_000,
        message: 'the deep intake request to be recorded',
      },
    );
    expect(recorded).toMatchObject({ status: 'rejected', decided_by: 'countersign' });
    expect(recorded.decision_reason).toMatch(/nested deeper than/);
    // A context just too deep for the contract (but shallow enough to walk) is named.
    let context: unknown = 1;
    for (let i = 0; i <= MAX_CONTEXT_DEPTH; i++) context = { d: context };
    const named = await sys.nc.request(
      'approval.submit.dave',
      JSON.stringify(payment('hostile-ctx', 1, { context: context as { d: unknown } })),
      {
        timeout: 5_000,
      },
    );
    expect(JSON.parse(new TextDecoder().decode(named.data)).error.details.fields[0].path).toBe('context');
  });

  it('refuses what is over 64 KiB with payload_too_large, on NATS and HTTP', async () => {
    const big = JSON.stringify(
      payment('hostile-big', 10, { context: { blob: 'x'.repeat(MAX_PAYLOAD_BYTES) } }),
    );
    for (const subject of ['approval.submit.dave', 'approval.decide.frank', 'policy.evaluate']) {
      const reply = await sys.nc.request(subject, big, { timeout: 5_000 });
      expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('413');
    }
    const http = await api('POST', '/api/v1/approvals', big);
    expect({ status: http.status, code: http.json.error.code }).toEqual({
      status: 413,
      code: 'payload_too_large',
    });
    // A description one character too long is named; a big context under the limit is kept whole.
    expect(
      await outcome(call(sys.nc, 'submit', payment('hostile-long', 10, { description: 'd'.repeat(2001) }))),
    ).toBe('invalid_request');
    const large = await call(
      sys.nc,
      'submit',
      payment('hostile-large', 10, { context: { blob: 'y'.repeat(60_000) } }),
    );
    expect((large.context as { blob: string }).blob).toHaveLength(60_000);
  });

  it('leaves the services ready', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await call(sys.nc, 'submit', payment('hostile-after', 10))).status).toBe('approved');
  });
});

describe('SQL-looking filter values and unknown fields', () => {
  it('match filters as plain text, on NATS and HTTP', async () => {
    const injected = "x' or '1'='1";
    await call(sys.nc, 'submit', payment('hostile-sql', 10, { run_id: injected }));
    for (const run_id of ["' or 1=1 --", "'; drop table approval.approvals; --", '%', '_']) {
      expect((await call(sys.nc, 'list', { run_id })).items).toEqual([]);
      const http = await api('GET', `/api/v1/approvals?run_id=${encodeURIComponent(run_id)}`);
      expect({ status: http.status, items: http.json.items }).toEqual({ status: 200, items: [] });
    }
    expect((await call(sys.nc, 'list', { run_id: injected })).items.map((a) => a.action_id)).toEqual([
      'hostile-sql',
    ]);
    expect((await call(sys.nc, 'list', { requested_by: "dave' --" })).items).toEqual([]);
    // The table is still there, with everything in it.
    expect(
      (await sys.pool.query('select count(*)::int as n from approval.approvals')).rows[0].n,
    ).toBeGreaterThan(3);
  });

  it('refuses unknown fields, naming them, on NATS and HTTP', async () => {
    const sneaky = { ...payment('hostile-unknown', 10), roles: ['admin'] };
    const nats = await sys.nc.request('approval.submit.dave', JSON.stringify(sneaky), { timeout: 5_000 });
    const error = JSON.parse(new TextDecoder().decode(nats.data)).error;
    expect(error.code).toBe('invalid_request');
    expect(error.details.fields.map((f: { path: string }) => f.path)).toContain('roles');
    const http = await api('POST', '/api/v1/approvals', JSON.stringify(sneaky));
    expect(http.json.error.details.fields.map((f: { path: string }) => f.path)).toContain('roles');
    expect(await outcome(call(sys.nc, 'get', { action_id: 'hostile-unknown' }))).toBe('not_found');
  });
});
