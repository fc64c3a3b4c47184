/**
 * One-click review links against the real services: the page shows everything an approver needs
 * and a GET or HEAD changes nothing; the form's POST votes once as the link's approver and
 * spends the link in the same transaction; reused, tampered, expired and foreign links, and
 * forms without their CSRF token or from another site, get a clear page and change nothing.
 */
import { mintReviewToken } from '@countersign/runtime';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

const h = await startHttpHarness('http_review');
const admin = new pg.Client({ connectionString: h.db.url });
await admin.connect();
afterAll(() => admin.end());

const submit = async (overrides: Parameters<typeof request>[1] = {}) => {
  const approval = await call(h.nc, 'submit', request('review', { context: { amount: 1500 }, ...overrides }));
  expect(approval.status).toBe('pending');
  return approval;
};

/** Everything a review could change about an approval. */
async function snapshot(actionId: string) {
  const approval = await call(h.nc, 'get', { action_id: actionId });
  const used = await admin.query(
    'select count(*)::int as n from approval.used_review_tokens where action_id = $1',
    [actionId],
  );
  return {
    status: approval.status,
    votes: approval.votes,
    history: approval.history.length,
    used: used.rows[0].n as number,
  };
}

const get = async (url: string, method = 'GET') => {
  const res = await fetch(url, { method });
  return { status: res.status, headers: res.headers, text: await res.text() };
};

const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1];
const tokenOf = (link: string) => new URL(link).searchParams.get('token') as string;

const post = async (
  actionId: string,
  fields: Record<string, string | undefined>,
  headers: Record<string, string> = {},
) => {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, v);
  const res = await fetch(`${h.base}/approvals/${actionId}/review`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: body.toString(),
  });
  return { status: res.status, text: await res.text() };
};

/** Opens the link like a person would, then posts its form. */
async function decideThroughLink(link: string, decision: 'approve' | 'reject', reason?: string) {
  const page = await get(link);
  expect(page.status).toBe(200);
  const actionId = new URL(link).pathname.split('/')[2] as string;
  return post(actionId, { token: tokenOf(link), csrf: csrfOf(page.text), decision, reason });
}

describe('the review page', () => {
  it('shows the approval and a decision form; GET and HEAD change nothing', async () => {
    const approval = await submit({ context: { amount: 1500, currency: 'EUR', vendor: 'ACME' } });
    const link = h.reviewLink(approval.action_id, 'alice', approval.expires_at);
    const before = await snapshot(approval.action_id);

    const page = await get(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const text of [
      approval.description,
      'ACME',
      'EUR',
      'alice',
      'Approve',
      'Reject',
      approval.policy.risk,
    ]) {
      expect(page.text).toContain(text);
    }
    for (const reason of approval.policy.reasons) expect(page.text).toContain(reason.code);
    // A form token: an HMAC-SHA256 (base64url), not empty and not the link's own token.
    expect(csrfOf(page.text)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfOf(page.text)).not.toBe(tokenOf(link));

    const head = await get(link, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    await get(link);
    expect(await snapshot(approval.action_id)).toEqual(before);
    expect(before).toMatchObject({ status: 'pending', votes: [], used: 0 });
  });

  it('escapes hostile description and context', async () => {
    const approval = await submit({
      description: 'Pay <script>alert("x")</script> now',
      context: { amount: 1500, '<img src=x onerror=alert(1)>': '"><svg/onload=alert(2)>' },
    });
    const page = await get(h.reviewLink(approval.action_id, 'alice', approval.expires_at));
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).not.toContain('<img src=x');
    expect(page.text).not.toContain('<svg/onload');
    expect(page.text).toContain('Pay &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; now');
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).toContain('&quot;&gt;&lt;svg/onload=alert(2)&gt;');
  });
});

describe('deciding through a link', () => {
  it("votes once as the link's approver and spends the link; the reused link is refused", async () => {
    const approval = await submit();
    const link = h.reviewLink(approval.action_id, 'alice', approval.expires_at);
    const page = await get(link);
    const csrf = csrfOf(page.text) as string;

    const done = await post(approval.action_id, {
      token: tokenOf(link),
      csrf,
      decision: 'approve',
      reason: 'checked the invoice',
    });
    expect(done.status).toBe(200);
    expect(done.text).toContain('You approved');
    const after = await snapshot(approval.action_id);
    expect(after).toMatchObject({ status: 'approved', used: 1, votes: [{ voter: 'alice', approved: true }] });
    expect((await call(h.nc, 'get', { action_id: approval.action_id })).decided_by).toBe('alice');

    const reopened = await get(link);
    expect(reopened.status).toBe(409);
    expect(reopened.text).toContain('already used');
    const reposted = await post(approval.action_id, { token: tokenOf(link), csrf, decision: 'reject' });
    expect(reposted.status).toBe(409);
    expect(reposted.text).toContain('already used');
    expect(await snapshot(approval.action_id)).toEqual(after);
  });

  it('rejects through the link with the reason recorded', async () => {
    const approval = await submit();
    const res = await decideThroughLink(
      h.reviewLink(approval.action_id, 'frank', approval.expires_at),
      'reject',
      'wrong vendor',
    );
    expect(res.status).toBe(200);
    expect(await call(h.nc, 'get', { action_id: approval.action_id })).toMatchObject({
      status: 'rejected',
      decided_by: 'frank',
      decision_reason: 'wrong vendor',
    });
  });

  it('spends a link once even when its form is posted twice at the same time (two-approver approval)', async () => {
    const approval = await submit({ context: { amount: 20_000 } });
    expect(approval.required_approvals).toBe(2);
    const link = h.reviewLink(approval.action_id, 'alice', approval.expires_at);
    const csrf = csrfOf((await get(link)).text) as string;
    const fields = { token: tokenOf(link), csrf, decision: 'approve' };
    const results = await Promise.all([post(approval.action_id, fields), post(approval.action_id, fields)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(await snapshot(approval.action_id)).toMatchObject({
      status: 'pending',
      used: 1,
      votes: [{ voter: 'alice', approved: true }],
    });
    // Another approver's own link completes it.
    const second = await decideThroughLink(
      h.reviewLink(approval.action_id, 'frank', approval.expires_at),
      'approve',
    );
    expect(second.status).toBe(200);
    expect((await snapshot(approval.action_id)).status).toBe('approved');
  });

  it('leaves the link unspent when the policy refuses its approver', async () => {
    const approval = await submit();
    const res = await decideThroughLink(
      h.reviewLink(approval.action_id, 'bob', approval.expires_at),
      'approve',
    );
    expect(res.status).toBe(403);
    expect(await snapshot(approval.action_id)).toMatchObject({ status: 'pending', votes: [], used: 0 });
  });
});

describe('refused links and forms change nothing', () => {
  it('refuses tampered, expired, foreign and missing tokens with a clear page', async () => {
    const approval = await submit();
    const other = await submit();
    const token = tokenOf(h.reviewLink(approval.action_id, 'alice', approval.expires_at));
    const [payload, signature] = token.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), v: 'frank' }),
    ).toString('base64url');
    const cases: { token: string; actionId: string; status: number; text: string }[] = [
      {
        token: `${payload}.${signature.slice(0, -2)}xx`,
        actionId: approval.action_id,
        status: 400,
        text: 'not valid',
      },
      { token: `${forged}.${signature}`, actionId: approval.action_id, status: 400, text: 'not valid' },
      { token: 'garbage', actionId: approval.action_id, status: 400, text: 'not valid' },
      { token: '', actionId: approval.action_id, status: 400, text: 'not valid' },
      {
        token: mintReviewToken(h.secret, {
          actionId: approval.action_id,
          approver: 'alice',
          expiresAt: new Date(Date.now() - 1000),
        }),
        actionId: approval.action_id,
        status: 410,
        text: 'expired',
      },
      // A valid link of another approval, pasted onto this one.
      {
        token: tokenOf(h.reviewLink(other.action_id, 'alice', other.expires_at)),
        actionId: approval.action_id,
        status: 400,
        text: 'another approval',
      },
      {
        token: mintReviewToken('another-secret-that-is-long-enough-123', {
          actionId: approval.action_id,
          approver: 'alice',
          expiresAt: new Date(approval.expires_at),
        }),
        actionId: approval.action_id,
        status: 400,
        text: 'not valid',
      },
    ];
    const before = await snapshot(approval.action_id);
    for (const c of cases) {
      const page = await get(`${h.base}/approvals/${c.actionId}/review?token=${encodeURIComponent(c.token)}`);
      expect(page.status, c.text).toBe(c.status);
      expect(page.text).toContain(c.text);
      const posted = await post(c.actionId, { token: c.token, csrf: 'x', decision: 'approve' });
      expect(posted.status, c.text).toBe(c.status);
    }
    expect(await snapshot(approval.action_id)).toEqual(before);
  });

  it('refuses a missing, wrong or borrowed CSRF token and a cross-site form', async () => {
    const approval = await submit();
    const link = h.reviewLink(approval.action_id, 'alice', approval.expires_at);
    const csrf = csrfOf((await get(link)).text) as string;
    const otherLink = h.reviewLink(approval.action_id, 'frank', approval.expires_at);
    const borrowed = csrfOf((await get(otherLink)).text) as string;
    const token = tokenOf(link);
    const before = await snapshot(approval.action_id);

    for (const fields of [
      { token, decision: 'approve' },
      { token, csrf: 'not-the-token', decision: 'approve' },
      { token, csrf: borrowed, decision: 'approve' },
    ]) {
      const res = await post(approval.action_id, fields);
      expect(res.status).toBe(403);
      expect(res.text).toContain('Request refused');
    }
    const crossSite: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { referer: 'https://evil.example/page' },
    ];
    for (const headers of crossSite) {
      const res = await post(approval.action_id, { token, csrf, decision: 'approve' }, headers);
      expect(res.status).toBe(403);
    }
    const wrongType = await fetch(`${h.base}/approvals/${approval.action_id}/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, csrf, decision: 'approve' }),
    });
    expect(wrongType.status).toBe(415);
    const noDecision = await post(approval.action_id, { token, csrf, decision: 'maybe' });
    expect(noDecision.status).toBe(400);
    expect(await snapshot(approval.action_id)).toEqual(before);

    // The same form from this origin still works afterwards: nothing was spent.
    const ok = await post(
      approval.action_id,
      { token, csrf, decision: 'approve' },
      { origin: h.base, 'sec-fetch-site': 'same-origin' },
    );
    expect(ok.status).toBe(200);
  });

  it('shows a decided approval as such, and a link for an unknown approval as not found', async () => {
    const approval = await submit();
    await call(h.nc, 'cancel', { action_id: approval.action_id, cancelled_by: 'dave' });
    const page = await get(h.reviewLink(approval.action_id, 'alice', approval.expires_at));
    expect(page.status).toBe(409);
    expect(page.text).toContain('already cancelled');
    expect(page.text).not.toContain('name="csrf"');
    const missing = await get(h.reviewLink('never-submitted', 'alice', approval.expires_at));
    expect(missing.status).toBe(404);
  });
});
