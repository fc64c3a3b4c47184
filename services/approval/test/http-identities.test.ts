/**
 * Who the HTTP door says acts, tried as an attacker would: names spelled differently in bodies
 * and in API_TOKENS are one identity or refused, never a second person; a valid token or session
 * for someone the directory does not list is refused, and a directory reload applies without a
 * restart; sign-in attempts are rate-limited per address.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDirectory } from '@countersign/runtime';
import { waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { type HttpServer, startHttpServer } from '../src/http/server.js';
import { parseApiTokens } from '../src/http/tokens.js';
import { startHttpHarness } from './http-support.js';
import { testLogger } from './support.js';

// The HTTP server of this file checks identities against a directory file the tests rewrite.
const dir = mkdtempSync(join(tmpdir(), 'countersign-http-identities-'));
const directoryFile = join(dir, 'directory.yaml');
const WITH_FRANK = `people:
  alice: { email: alice@example.test, roles: [finance, ops] }
  frank: { email: frank@example.test, roles: [finance] }
  dave: { email: dave@example.test }
`;
const WITHOUT_FRANK = `people:
  alice: { email: alice@example.test, roles: [finance, ops] }
  dave: { email: dave@example.test }
`;
writeFileSync(directoryFile, WITH_FRANK);
const directory = await openDirectory({ file: directoryFile, logger: testLogger, intervalMs: 50 });
afterAll(async () => {
  await directory.stop();
  rmSync(dir, { recursive: true, force: true });
});

const h = await startHttpHarness('http_identities', { directory: () => directory.current() });

/** Another server on the same service: its own API_TOKENS and sign-in limit. */
async function startServer(tokens: string, signInPerMinute = 10): Promise<HttpServer> {
  const server = await startHttpServer({
    service: {
      metrics: h.service.metrics,
      deps: { ...h.service.deps, directory: () => directory.current() },
    },
    nc: h.nc,
    logger: testLogger,
    tokens: parseApiTokens(tokens),
    settings: { ...h.httpSettings, signInPerMinute },
  });
  afterAll(() => server.stop());
  return server;
}

const submitBody = (n: string, requested_by?: unknown) => ({
  action_id: `ident-${n}-${Date.now()}`,
  action_type: 'payment',
  description: 'Pay invoice 42',
  context: { amount: 1500 },
  ...(requested_by === undefined ? {} : { requested_by }),
});

async function post(base: string, path: string, token: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON of any shape; tests assert on it.
  const json: any = await res.json();
  return { status: res.status, json };
}

function signInForm(base: string, token: string, headers: Record<string, string> = {}) {
  return fetch(`${base}/dashboard/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
}

describe('names in request bodies', () => {
  it('takes case, surrounding space and NFKC variants of the token identity as that identity', async () => {
    for (const [n, named] of [
      ['case', 'Frank'],
      ['upper', 'FRANK'],
      ['space', '  frank '],
      ['nfkc', '\uff46\uff52\uff41\uff4e\uff4b'],
    ] as const) {
      const res = await post(h.base, '/api/v1/approvals', h.tokens.frank, submitBody(n, named));
      expect(res.status, named).toBe(200);
      expect(res.json.requested_by, named).toBe('frank');
    }
  });

  it('refuses zero-width, bidi and mixed-script look-alikes as invalid_request naming the field', async () => {
    for (const [n, named] of [
      ['zw', 'fr\u200bank'],
      ['bidi', '\u202efrank'],
      ['isolate', 'frank\u2066'],
      ['cyrillic', 'fr\u0430nk'],
    ] as const) {
      const res = await post(h.base, '/api/v1/approvals', h.tokens.frank, submitBody(n, named));
      expect(res.status, named).toBe(400);
      expect(res.json.error, named).toMatchObject({
        code: 'invalid_request',
        details: { fields: [{ path: 'requested_by' }] },
      });
    }
  });

  it('refuses a body naming someone else, however it is spelled, as actor_mismatch', async () => {
    for (const named of ['alice', 'Alice', ' ALICE ']) {
      const res = await post(h.base, '/api/v1/approvals', h.tokens.frank, submitBody('other', named));
      expect(res.status, named).toBe(403);
      expect(res.json.error.details.reasons[0].code, named).toBe('actor_mismatch');
    }
    const decide = await post(h.base, '/api/v1/approvals/any-id/decide', h.tokens.frank, {
      approved: true,
      decided_by: 'Alice',
    });
    expect(decide.status).toBe(403);
    expect(decide.json.error.details.reasons[0].code).toBe('actor_mismatch');
  });
});

describe('identities in API_TOKENS', () => {
  it('a token configured for a variant of a name acts as the canonical identity', async () => {
    const token = 'variant-token-0123456789abcdef';
    const server = await startServer(`${token}:\uff26\uff52\uff41\uff4e\uff4b`);
    const res = await post(server.url, '/api/v1/approvals', token, submitBody('variant', 'frank'));
    expect(res.status).toBe(200);
    expect(res.json.requested_by).toBe('frank');
  });

  it('refuses look-alike names at start, naming the entry and not the token', () => {
    expect(() => parseApiTokens('lookalike-token-0123456789:fr\u200bank')).toThrow(/entry 1: the identity/);
    expect(() => parseApiTokens('lookalike-token-0123456789:\u202efrank')).toThrow(/entry 1: the identity/);
  });
});

describe('identities the directory does not list', () => {
  const malloryToken = 'mallory-token-0123456789abcdef';

  it('a valid token for someone not in the directory is refused, on the API and at sign-in', async () => {
    const server = await startServer(`${malloryToken}:mallory`);
    const res = await fetch(`${server.url}/api/v1/stats`, {
      headers: { authorization: `Bearer ${malloryToken}` },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      code: 'forbidden',
      details: { reasons: [{ code: 'unknown_identity' }] },
    });
    const page = await signInForm(server.url, malloryToken);
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('unknown_identity');
    expect(page.headers.getSetCookie()).toEqual([]);
  });

  it('a directory reload applies at once: removing someone ends their token and session, adding them back restores the token', async () => {
    const stats = () =>
      fetch(`${h.base}/api/v1/stats`, { headers: { authorization: `Bearer ${h.tokens.frank}` } });
    expect((await stats()).status).toBe(200);
    const signedIn = await signInForm(h.base, h.tokens.frank);
    expect(signedIn.status).toBe(303);
    const cookie = (signedIn.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const fragment = () => fetch(`${h.base}/dashboard/fragments/badge`, { headers: { cookie } });
    expect((await fragment()).status).toBe(200);

    writeFileSync(directoryFile, WITHOUT_FRANK);
    await waitUntil(async () => (await stats()).status === 403, { message: 'the reload to refuse frank' });
    const refused = await stats();
    expect(await refused.json()).toMatchObject({
      error: { details: { reasons: [{ code: 'unknown_identity' }] } },
    });
    expect((await fragment()).status).toBe(401);

    writeFileSync(directoryFile, WITH_FRANK);
    await waitUntil(async () => (await stats()).status === 200, { message: 'the reload to accept frank' });
  });
});

describe('review links', () => {
  it('refuse to vote for an approver the directory does not list, and leave the link unspent', async () => {
    const submitted = await post(h.base, '/api/v1/approvals', h.tokens.dave, submitBody('review'));
    expect(submitted.status).toBe(200);
    const { action_id, expires_at } = submitted.json;
    // grace is in the test directory the notifier uses, not in this server's.
    const link = h.reviewLink(action_id, 'grace', expires_at);
    const page = await (await fetch(link)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    const res = await fetch(`${h.base}/approvals/${action_id}/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: new URL(link).searchParams.get('token') as string,
        csrf,
        decision: 'approve',
      }).toString(),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('unknown_identity');
    const after = await fetch(`${h.base}/api/v1/approvals/${action_id}`, {
      headers: { authorization: `Bearer ${h.tokens.alice}` },
    });
    expect(await after.json()).toMatchObject({ status: 'pending', votes: [] });
  });
});

describe('sign-in rate limit', () => {
  it('answers 429 with Retry-After once an address used its attempts, valid token or not; the API is not limited', async () => {
    const token = 'limited-token-0123456789abcdef';
    const server = await startServer(`${token}:alice`, 3);
    for (let i = 0; i < 3; i++)
      expect((await signInForm(server.url, 'wrong-token-0123456789')).status).toBe(401);
    const limited = await signInForm(server.url, token);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(limited.headers.getSetCookie()).toEqual([]);
    expect(await limited.text()).toContain('too many sign-in attempts');
    // Bearer tokens on the API are checked per request, not counted as sign-ins.
    const api = await fetch(`${server.url}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(200);
  });
});
