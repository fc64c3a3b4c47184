/**
 * Who may use the dashboard and the event stream, over plain HTTP (no browser): forms without
 * their CSRF token or from another origin are refused, signing out ends the session for good,
 * and the event stream refuses wrong tokens and tampered or expired cookies, holds at most its
 * client limit and drops a client that stops reading without holding up the others.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { type HttpServer, startHttpServer } from '../src/http/server.js';
import { parseApiTokens } from '../src/http/tokens.js';
import { type HttpHarness, type Identity, startHttpHarness } from './http-support.js';
import { call, request, testLogger } from './support.js';

const h = await startHttpHarness('http_sessions');

/** A second server on the same service, with its own settings (a short session, a client limit). */
async function startServer(settings: {
  sessionTtlSeconds?: number;
  sseMaxClients?: number;
}): Promise<HttpServer> {
  const server = await startHttpServer({
    service: h.service,
    nc: h.nc,
    logger: testLogger,
    tokens: parseApiTokens(`${h.tokens.alice}:alice,${h.tokens.frank}:frank`),
    settings: { ...h.httpSettings, ...settings },
  });
  afterAll(() => server.stop());
  return server;
}

/** The `name=value` part of the session cookie a response sets. */
function sessionCookie(res: Response): string {
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('countersign_session='));
  if (!setCookie) throw new Error(`no session cookie (status ${res.status})`);
  return setCookie.split(';')[0] as string;
}

/** Signs in through the form, as the browser does, and returns the cookie and the page's CSRF token. */
async function signIn(identity: Identity, base: string = h.base) {
  const res = await fetch(`${base}/dashboard/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: h.tokens[identity] }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(303);
  const cookie = sessionCookie(res);
  const page = await fetch(`${base}/dashboard`, { headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!csrf) throw new Error('the dashboard page carries no CSRF token');
  return { cookie, csrf };
}

/** Posts a form with the given cookie and extra headers (Origin, Sec-Fetch-Site, Referer). */
function postForm(
  path: string,
  cookie: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return fetch(`${h.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
}

/** Opens the event stream; returns the response (the caller aborts it). */
async function openStream(base: string, headers: Record<string, string>, abort = new AbortController()) {
  const res = await fetch(`${base}/api/v1/events`, { headers, signal: abort.signal });
  return { res, abort };
}

/** The stream's status with these headers; a stream that opened is closed again at once. */
async function streamStatus(base: string, headers: Record<string, string>): Promise<number> {
  const { res, abort } = await openStream(base, headers);
  abort.abort();
  await res.body?.cancel().catch(() => {});
  return res.status;
}

const metricValue = async (series: string): Promise<number | undefined> => {
  const text = await (await fetch(`${h.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

async function pendingPayment(harness: HttpHarness, label: string) {
  return call(harness.nc, 'submit', request(label, { context: { amount: 1500 } }));
}

describe('dashboard forms', () => {
  it('refuse a decision without the CSRF token, with another session’s, or from another origin; take the real one', async () => {
    const approval = await pendingPayment(h, 'csrf');
    const path = `/dashboard/approvals/${approval.action_id}/decide`;
    const alice = await signIn('alice');
    const other = await signIn('alice');
    expect(other.csrf).not.toBe(alice.csrf);
    const decision = { decision: 'approve', reason: 'checked' };

    const refusals: [string, Response][] = [
      ['no CSRF token', await postForm(path, alice.cookie, decision)],
      ['a wrong CSRF token', await postForm(path, alice.cookie, { ...decision, csrf: 'x'.repeat(43) })],
      ['another session’s CSRF token', await postForm(path, alice.cookie, { ...decision, csrf: other.csrf })],
      [
        'a cross-origin Origin',
        await postForm(
          path,
          alice.cookie,
          { ...decision, csrf: alice.csrf },
          { origin: 'https://evil.example' },
        ),
      ],
      [
        'Sec-Fetch-Site: cross-site',
        await postForm(
          path,
          alice.cookie,
          { ...decision, csrf: alice.csrf },
          { 'sec-fetch-site': 'cross-site' },
        ),
      ],
      [
        'a cross-origin Referer',
        await postForm(
          path,
          alice.cookie,
          { ...decision, csrf: alice.csrf },
          { referer: 'https://evil.example/page' },
        ),
      ],
    ];
    for (const [why, res] of refusals) {
      expect({ why, status: res.status }).toEqual({ why, status: 403 });
      expect(await res.text()).toContain('the form was not sent from this dashboard');
    }
    const untouched = await call(h.nc, 'get', { action_id: approval.action_id });
    expect(untouched.status).toBe('pending');
    expect(untouched.votes).toEqual([]);

    // The same form with its token, from this origin, is taken: the refusals above were the checks.
    const accepted = await postForm(
      path,
      alice.cookie,
      { ...decision, csrf: alice.csrf },
      { origin: h.base, 'sec-fetch-site': 'same-origin' },
    );
    expect(accepted.status).toBe(303);
    expect(await call(h.nc, 'get', { action_id: approval.action_id })).toMatchObject({
      status: 'approved',
      decided_by: 'alice',
    });
  });

  it('refuse a sign-in posted from another origin, and issue no session', async () => {
    const res = await fetch(`${h.base}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ token: h.tokens.alice }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe('signing out', () => {
  it('needs the CSRF token, and ends the session: the old cookie opens nothing afterwards', async () => {
    const approval = await pendingPayment(h, 'signout');
    const alice = await signIn('alice');
    const badge = () => fetch(`${h.base}/dashboard/fragments/badge`, { headers: { cookie: alice.cookie } });
    expect((await badge()).status).toBe(200);

    // A forged sign-out (no token) does nothing.
    const forged = await postForm('/dashboard/logout', alice.cookie, {});
    expect(forged.status).toBe(403);
    expect((await badge()).status).toBe(200);

    const out = await postForm('/dashboard/logout', alice.cookie, { csrf: alice.csrf });
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie().join('\n')).toMatch(/countersign_session=; .*Max-Age=0/);

    // Someone who kept the old cookie (a copy, a shared machine) can no longer use it.
    expect((await badge()).status).toBe(401);
    const page = await fetch(`${h.base}/dashboard`, { headers: { cookie: alice.cookie } });
    expect(await page.text()).toContain('action="/dashboard/login"');
    expect(await streamStatus(h.base, { cookie: alice.cookie })).toBe(401);
    const decide = await postForm(`/dashboard/approvals/${approval.action_id}/decide`, alice.cookie, {
      decision: 'approve',
      csrf: alice.csrf,
    });
    expect(decide.status).toBe(401);
    expect((await call(h.nc, 'get', { action_id: approval.action_id })).status).toBe('pending');

    // Signing in again works, and that new session is unaffected.
    const again = await signIn('alice');
    expect(
      (await fetch(`${h.base}/dashboard/fragments/badge`, { headers: { cookie: again.cookie } })).status,
    ).toBe(200);
  });
});

describe('event stream authentication', () => {
  it('refuses a wrong bearer token and a tampered session cookie with a structured 401', async () => {
    for (const headers of [
      { authorization: 'Bearer not-a-configured-token-0123456789' },
      { authorization: `Bearer ${h.tokens.alice}x` },
    ]) {
      const res = await fetch(`${h.base}/api/v1/events`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({
        error: { code: 'forbidden', message: 'the bearer token is not valid' },
      });
    }

    const { cookie } = await signIn('frank');
    expect(await streamStatus(h.base, { cookie })).toBe(200);
    const [name, value] = cookie.split('=') as [string, string];
    const [payload, signature] = value.split('.') as [string, string];
    // frank's cookie rewritten to say alice, with frank's signature kept.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const asAlice = Buffer.from(JSON.stringify({ ...claims, i: 'alice' })).toString('base64url');
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const tampered of [
      `${name}=${asAlice}.${signature}`,
      `${name}=${payload}.${flipped}`,
      `${name}=${payload}`,
    ]) {
      const res = await fetch(`${h.base}/api/v1/events`, { headers: { cookie: tampered } });
      expect(res.status).toBe(401);
      const refusal = (await res.json()) as { error: unknown };
      expect(refusal.error).toMatchObject({
        code: 'forbidden',
        details: { reason: 'unauthenticated' },
      });
    }
  });

  it('refuses a session cookie once it has expired', async () => {
    // The session lifetime is the behaviour under test: three seconds, far more than the few
    // milliseconds between signing in and the first use below (a margin of well over 3x).
    const ttlSeconds = 3;
    const server = await startServer({ sessionTtlSeconds: ttlSeconds });
    const issuedAt = Date.now();
    const { cookie } = await signIn('alice', server.url);
    expect(await streamStatus(server.url, { cookie })).toBe(200);
    await waitUntil(async () => (await streamStatus(server.url, { cookie })) === 401, {
      timeout: 30_000,
      interval: 100,
      message: 'the expired session to be refused',
    });
    // Refused because it expired, not earlier.
    expect(Date.now() - issuedAt).toBeGreaterThanOrEqual(ttlSeconds * 1000);
  });
});

describe('event stream limits', () => {
  it('refuses one client over its limit with a structured error, and takes it once a stream closes', async () => {
    const server = await startServer({ sseMaxClients: 2 });
    const auth = { authorization: `Bearer ${h.tokens.alice}` };
    const first = await openStream(server.url, auth);
    const second = await openStream(server.url, auth);
    expect([first.res.status, second.res.status]).toEqual([200, 200]);

    const over = await fetch(`${server.url}/api/v1/events`, { headers: auth });
    expect(over.status).toBe(503);
    expect(await over.json()).toEqual({
      error: { code: 'unavailable', message: 'too many open event streams; retry later' },
    });

    first.abort.abort();
    await first.res.body?.cancel().catch(() => {});
    const third = await waitUntil(async () => {
      const opened = await openStream(server.url, auth);
      if (opened.res.status === 200) return opened;
      await opened.res.body?.cancel().catch(() => {});
      return undefined;
    });
    for (const s of [second, third]) {
      s.abort.abort();
      await s.res.body?.cancel().catch(() => {});
    }
  });

  it('drops a client that stops reading, and keeps streaming to the others', async () => {
    const publisher = await h.nats.connect();
    afterAll(() => publisher.close());
    await waitUntil(async () => (await metricValue('countersign_sse_clients')) === 0, {
      message: 'no streams left open by earlier tests',
    });

    // A client that reads its headers and then nothing more: a raw socket, paused.
    let slowBytes = 0;
    let slowClosed = false;
    const slow: Socket = connectTcp(h.http.port, '127.0.0.1');
    slow.on('close', () => {
      slowClosed = true;
    });
    slow.on('error', () => {});
    slow.on('data', (chunk: Buffer) => {
      slowBytes += chunk.length;
    });
    slow.write(
      `GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.tokens.bob}\r\n\r\n`,
    );
    await waitUntil(() => slowBytes > 0, { message: 'the slow client to get its headers' });
    slow.pause();

    // A client that reads everything: the action ids of the events it got.
    const reader = await openStream(h.base, { authorization: `Bearer ${h.tokens.carol}` });
    const body = (reader.res.body as ReadableStream<Uint8Array>).getReader();
    const seen = new Set<string>();
    const decoder = new TextDecoder();
    void (async () => {
      let buffered = '';
      for (;;) {
        const { value, done } = await body.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffered += decoder.decode(value, { stream: true });
        const messages = buffered.split('\n\n');
        buffered = messages.pop() ?? '';
        for (const m of messages) {
          const id = /"action_id":"([^"]+)"/.exec(m)?.[1];
          if (id) seen.add(id);
        }
      }
    })();
    await waitUntil(async () => (await metricValue('countersign_sse_clients')) === 2, {
      message: 'both streams to be counted',
    });

    // Big events (a 256 KiB description each) on the event subjects, in the envelope the service
    // itself publishes, until the slow client is dropped: the server must not keep buffering for it.
    const realEvents: string[] = [];
    const sub = publisher.subscribe(Subjects.pendingAll, {
      callback: (_err, msg) => {
        realEvents.push(msg.string());
      },
    });
    const template = await pendingPayment(h, 'sse-slow');
    const envelope = JSON.parse(
      await waitUntil(() => realEvents.find((e) => e.includes(`"action_id":"${template.action_id}"`)), {
        message: 'the service to publish the template event',
      }),
    );
    sub.unsubscribe();
    const bigId = (n: number) => `${template.action_id}-big-${n}`;
    let published = 0;
    let publishedBytes = 0;
    await waitUntil(
      async () => {
        // Two at a time (512 KiB, under the 1 MiB a stream may have unsent), so the reading
        // client, in this same process, is never behind by more than the limit.
        for (let i = 0; i < 2; i++) {
          published += 1;
          const payload = JSON.stringify({
            ...envelope,
            data: { ...envelope.data, action_id: bigId(published), description: 'x'.repeat(256 * 1024) },
          });
          publishedBytes += payload.length;
          publisher.publish(Subjects.pending(bigId(published)), payload);
        }
        await publisher.flush();
        return (await metricValue('countersign_sse_clients')) === 1;
      },
      { timeout: 30_000, interval: 10, message: 'the slow client to be dropped' },
    );
    // The reader still gets every event, including one published after the drop.
    const marker = await pendingPayment(h, 'sse-after-drop');
    await waitUntil(() => seen.has(marker.action_id), {
      message: 'the reading client to get the event after the drop',
    });
    const missed = Array.from({ length: published }, (_, i) => bigId(i + 1)).filter((id) => !seen.has(id));
    expect(missed).toEqual([]);

    // The slow client's connection was closed by the server, short of everything published:
    // what it never read was discarded, not kept in the server's memory.
    slow.resume();
    await waitUntil(() => slowClosed, { message: 'the slow client connection to close' });
    expect(slowBytes).toBeLessThan(publishedBytes);

    reader.abort.abort();
    await body.cancel().catch(() => {});
  });
});
