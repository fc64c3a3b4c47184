import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { deriveKey, mintReviewToken, ReviewTokenInvalid, verifyReviewToken } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { fromThisOrigin, SESSION_COOKIE, Sessions, sessionSecretOf } from './auth.js';
import { parseApiTokens, TokenStore } from './tokens.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const token = 'alice-token-0123456789';
const tokens = new TokenStore(parseApiTokens(`${token}:alice`));
const secret = 's'.repeat(40);
/** As the server checks token sessions: the token is still configured for that identity. */
const tokenStands = (store: TokenStore) => (identity: string, fingerprint: string) =>
  store.identityOf(fingerprint) === identity;

function cookieOf(setCookie: string): string {
  return setCookie.split(';')[0] as string;
}

describe('Sessions', () => {
  const sessions = new Sessions(secret, tokenStands(tokens), 3600, false);
  const who = tokens.identify(token);
  if (!who) throw new Error('token not configured');

  it('issues an HttpOnly SameSite=Strict cookie without the token, and reads it back', () => {
    const setCookie = sessions.issue(who);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(setCookie).not.toContain(token);
    const session = sessions.read(req({ cookie: `other=1; ${cookieOf(setCookie)}` }));
    expect(session?.identity).toBe('alice');
    expect(new Sessions(secret, tokenStands(tokens), 3600, true).issue(who)).toMatch(/; Secure/);
  });

  it('refuses tampered, expired, foreign-key and revoked-token sessions', () => {
    const value = cookieOf(sessions.issue(who)).slice(SESSION_COOKIE.length + 1);
    const [payload, signature] = value.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, i: 'carol' })).toString('base64url');
    expect(sessions.read(req({ cookie: `${SESSION_COOKIE}=${forged}.${signature}` }))).toBeUndefined();
    expect(
      sessions.read(req({ cookie: `${SESSION_COOKIE}=${value}` }), Date.now() + 3601_000),
    ).toBeUndefined();
    expect(
      new Sessions('t'.repeat(40), tokenStands(tokens), 3600, false).read(
        req({ cookie: `${SESSION_COOKIE}=${value}` }),
      ),
    ).toBeUndefined();
    expect(
      new Sessions(secret, tokenStands(new TokenStore([])), 3600, false).read(
        req({ cookie: `${SESSION_COOKIE}=${value}` }),
      ),
    ).toBeUndefined();
    expect(sessions.read(req({ cookie: `${SESSION_COOKIE}=garbage` }))).toBeUndefined();
  });

  it('ties the CSRF token to the session', () => {
    const a = sessions.read(req({ cookie: cookieOf(sessions.issue(who)) }));
    const b = sessions.read(req({ cookie: cookieOf(sessions.issue(who)) }));
    if (!a || !b) throw new Error('no session');
    expect(sessions.checkCsrf(a, sessions.csrfToken(a))).toBe(true);
    expect(sessions.checkCsrf(a, sessions.csrfToken(b))).toBe(false);
    expect(sessions.checkCsrf(a, null)).toBe(false);
  });
});

describe('review links and sessions, both from REVIEW_LINK_SECRET (SESSION_SECRET unset)', () => {
  const linkSecret = 'r'.repeat(40);
  const sessions = new Sessions(sessionSecretOf(linkSecret), tokenStands(tokens), 3600, false);
  const who = tokens.identify(token);
  if (!who) throw new Error('token not configured');
  const sign = (key: Buffer, payload: string) =>
    createHmac('sha256', key).update(payload).digest('base64url');

  it('derives the session secret with its own label, and takes SESSION_SECRET when set', () => {
    expect(sessionSecretOf(linkSecret)).not.toBe(linkSecret);
    expect(sessionSecretOf(linkSecret)).toBe(deriveKey(linkSecret, 'session-secret').toString('hex'));
    expect(sessionSecretOf(linkSecret, 'x'.repeat(40))).toBe('x'.repeat(40));
  });

  it('a review-link token never opens a session', () => {
    const review = mintReviewToken(linkSecret, {
      actionId: 'a-1',
      approver: 'alice',
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect(sessions.read(req({ cookie: `${SESSION_COOKIE}=${review}` }))).toBeUndefined();
    // Even with session-shaped claims: what the review-link key signs is no session.
    const claims = { i: 'alice', f: who.fingerprint, s: 'x', e: Date.now() + 60_000 };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    for (const key of [deriveKey(linkSecret, 'review-link'), Buffer.from(linkSecret)]) {
      expect(
        sessions.read(req({ cookie: `${SESSION_COOKIE}=${payload}.${sign(key, payload)}` })),
      ).toBeUndefined();
    }
    // The same payload with the session's own key does open one: the refusal above is the key's.
    const sessionKey = deriveKey(sessionSecretOf(linkSecret), 'session');
    expect(
      sessions.read(req({ cookie: `${SESSION_COOKIE}=${payload}.${sign(sessionKey, payload)}` }))?.identity,
    ).toBe('alice');
  });

  it('a session cookie never verifies as a review-link token', () => {
    const value = cookieOf(sessions.issue(who)).slice(SESSION_COOKIE.length + 1);
    expect(() => verifyReviewToken(linkSecret, value, 'a-1')).toThrow(ReviewTokenInvalid);
    // Review-shaped claims signed with the session key: a bad signature, not a vote.
    const claims = { a: 'a-1', v: 'alice', e: Math.floor(Date.now() / 1000) + 60, n: 'n' };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const sessionKey = deriveKey(sessionSecretOf(linkSecret), 'session');
    expect(() => verifyReviewToken(linkSecret, `${payload}.${sign(sessionKey, payload)}`, 'a-1')).toThrow(
      /bad signature/,
    );
    expect(
      verifyReviewToken(
        linkSecret,
        `${payload}.${sign(deriveKey(linkSecret, 'review-link'), payload)}`,
        'a-1',
      ).v,
    ).toBe('alice');
  });
});

describe('fromThisOrigin', () => {
  const host = { host: '127.0.0.1:8080' };
  it('accepts same-origin signals and their absence', () => {
    expect(fromThisOrigin(req(host), undefined)).toBe(true);
    expect(
      fromThisOrigin(
        req({ ...host, origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-origin' }),
        undefined,
      ),
    ).toBe(true);
    // Referrer-Policy: no-referrer makes browsers send Origin: null for their own forms.
    expect(fromThisOrigin(req({ ...host, origin: 'null' }), undefined)).toBe(true);
    expect(
      fromThisOrigin(req({ ...host, origin: 'https://approvals.example' }), 'https://approvals.example'),
    ).toBe(true);
  });
  it('refuses other sites', () => {
    expect(fromThisOrigin(req({ ...host, origin: 'https://evil.example' }), undefined)).toBe(false);
    expect(fromThisOrigin(req({ ...host, 'sec-fetch-site': 'cross-site' }), undefined)).toBe(false);
    expect(fromThisOrigin(req({ ...host, 'sec-fetch-site': 'same-site' }), undefined)).toBe(false);
    expect(fromThisOrigin(req({ ...host, referer: 'https://evil.example/x' }), undefined)).toBe(false);
    expect(fromThisOrigin(req({ ...host, referer: 'not a url' }), undefined)).toBe(false);
  });
});
