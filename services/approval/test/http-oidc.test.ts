/**
 * Single sign-on over plain HTTP (no browser) against a real OpenID provider on loopback: what
 * the start sends to the provider (PKCE S256, state, nonce) and keeps in its cookie, callbacks an
 * attacker could forge (no flow cookie, a tampered one, a wrong state, an invented code), the
 * start-up check of the issuer, the rate limit, and the client secret staying out of the logs.
 * The whole sign-in in Chromium is in browser-sso.test.ts.
 */
import { Secret } from '@countersign/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/http/server.js';
import { startSsoHarness } from './sso-support.js';
import { testLogger } from './support.js';

const h = await startSsoHarness('http_oidc');
const { sso } = h;

async function start(base = sso.base) {
  const res = await fetch(`${base}/auth/oidc/start`, { redirect: 'manual' });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('countersign_oidc=')) ?? '';
  return { res, location: new URL(res.headers.get('location') ?? 'about:blank'), setCookie };
}

function callback(query: Record<string, string>, cookie?: string) {
  return fetch(`${sso.base}/auth/oidc/callback?${new URLSearchParams(query)}`, {
    headers: cookie ? { cookie } : {},
    redirect: 'manual',
  });
}

describe('the sign-in page', () => {
  it('offers "Sign in with SSO" when OIDC is configured, and keeps the token sign-in', async () => {
    const page = await (await fetch(`${sso.base}/dashboard`)).text();
    expect(page).toContain('href="/auth/oidc/start"');
    expect(page).toContain('Sign in with SSO');
    expect(page).toContain('action="/dashboard/login"');
    const tokenOnly = await (await fetch(`${h.base}/dashboard`)).text();
    expect(tokenOnly).not.toContain('Sign in with SSO');
    expect((await fetch(`${h.base}/auth/oidc/start`)).status).toBe(404);
  });
});

describe('starting a sign-in', () => {
  it('sends the browser to the provider with PKCE S256, state and nonce, kept in a short-lived signed HttpOnly cookie', async () => {
    const { res, location, setCookie } = await start();
    expect(res.status).toBe(303);
    expect(location.origin).toBe(sso.provider.issuer);
    const q = location.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe('countersign');
    expect(q.get('redirect_uri')).toBe(`${sso.base}/auth/oidc/callback`);
    expect(q.get('scope')).toBe('openid email profile');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')?.length).toBeGreaterThanOrEqual(22);
    expect(q.get('nonce')?.length).toBeGreaterThanOrEqual(22);
    expect(location.href).not.toContain(sso.clientSecret);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Path=\/auth\/oidc\/callback/);
    expect(setCookie).toMatch(/Max-Age=600/);
    // The verifier itself never leaves in the clear: the cookie is signed, the URL has its hash.
    const second = await start();
    expect(second.location.searchParams.get('state')).not.toBe(q.get('state'));
  });
});

describe('callbacks an attacker could send', () => {
  it('refuses a callback without the flow cookie (a sign-in this browser did not start)', async () => {
    const { location } = await start();
    const res = await callback({ code: 'stolen-code', state: location.searchParams.get('state') as string });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_callback');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('countersign_session='))).toBe(false);
  });

  it('refuses a wrong state, a tampered flow cookie and an invented code', async () => {
    const { location, setCookie } = await start();
    const cookie = setCookie.split(';')[0] as string;
    const state = location.searchParams.get('state') as string;

    const wrongState = await callback({ code: 'any-code', state: `${state}x` }, cookie);
    expect(wrongState.status).toBe(400);
    expect(await wrongState.text()).toContain('invalid_callback');

    const [name, value] = cookie.split('=') as [string, string];
    const [payload, signature] = value.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, s: 'attacker-state' })).toString('base64url');
    const tampered = await callback(
      { code: 'any-code', state: 'attacker-state' },
      `${name}=${forged}.${signature}`,
    );
    expect(tampered.status).toBe(400);

    const invented = await callback({ code: 'invented-code', state }, cookie);
    expect(invented.status).toBe(400);
    expect(await invented.text()).toContain('could not be verified');
    for (const res of [wrongState, tampered, invented]) {
      expect(res.headers.getSetCookie().some((c) => c.startsWith('countersign_session='))).toBe(false);
    }
  });

  it('says so when the provider reports an error instead of a code', async () => {
    const { location, setCookie } = await start();
    const res = await callback(
      { error: 'access_denied', state: location.searchParams.get('state') as string },
      setCookie.split(';')[0] as string,
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('provider_error');
  });
});

describe('start-up', () => {
  const settings = (issuer: string) => ({
    ...h.httpSettings,
    publicUrl: 'http://127.0.0.1:1',
    oidc: { issuer, clientId: 'countersign', clientSecret: new Secret('s3cret-value'), scopes: 'openid' },
  });
  const startWith = (issuer: string) =>
    startHttpServer({
      service: h.service,
      nc: h.nc,
      logger: testLogger,
      tokens: [],
      settings: settings(issuer),
    });

  it('stops with a message naming the issuer when it is unreachable or not an OpenID provider', async () => {
    await expect(startWith('http://127.0.0.1:9')).rejects.toThrow(
      /^OIDC_ISSUER http:\/\/127\.0\.0\.1:9\/: OpenID discovery failed/,
    );
    // This server answers, but 404 for the discovery document.
    await expect(startWith(h.base)).rejects.toThrow(/OIDC_ISSUER .*: OpenID discovery failed/);
    await expect(startWith('http://127.0.0.1:9')).rejects.not.toThrow(/s3cret-value/);
  });
});

describe('sign-in rate limit', () => {
  it('limits starts and callbacks per address with 429 and Retry-After', async () => {
    const server = await startHttpServer({
      service: h.service,
      nc: h.nc,
      logger: testLogger,
      tokens: [],
      settings: {
        ...h.httpSettings,
        publicUrl: 'http://127.0.0.1:1',
        signInPerMinute: 2,
        oidc: {
          issuer: sso.provider.issuer,
          clientId: 'countersign',
          clientSecret: new Secret(sso.clientSecret),
          scopes: 'openid',
        },
      },
    });
    afterAll(() => server.stop());
    expect((await start(server.url)).res.status).toBe(303);
    expect((await fetch(`${server.url}/auth/oidc/callback?code=x&state=y`)).status).toBe(400);
    const limited = await start(server.url);
    expect(limited.res.status).toBe(429);
    expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.setCookie).toBe('');
    expect((await fetch(`${server.url}/auth/oidc/callback?code=x&state=y`)).status).toBe(429);
  });
});

describe('logs', () => {
  it('name the issuer and the client, never the client secret', () => {
    const text = sso.logs.join('\n');
    expect(text).toContain('dashboard single sign-on enabled');
    expect(text).toContain(sso.provider.issuer);
    expect(text).not.toContain(sso.clientSecret);
  });
});
