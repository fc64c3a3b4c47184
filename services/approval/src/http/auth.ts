/**
 * Who is asking. The API takes `Authorization: Bearer <token>`; the dashboard signs in with the
 * same token once, or with OpenID Connect (see oidc.ts), and then carries an HMAC-signed session
 * cookie (HttpOnly, SameSite=Strict) that holds the identity and a fingerprint of the credential
 * it was opened with, never the credential itself. Every identity must be in the directory at
 * the time of use, so removing someone from the file locks them out without a restart. Forms
 * carry a CSRF token derived from the session, and unsafe browser requests must come from this
 * origin.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CountersignError } from '@countersign/contracts';
import { type Directory, deriveKey } from '@countersign/runtime';
import { authenticationRequired, parseCookies } from './io.js';
import type { Identified, TokenStore } from './tokens.js';

export const SESSION_COOKIE = 'countersign_session';

/**
 * The secret dashboard sessions are signed from: SESSION_SECRET, else a key derived from
 * REVIEW_LINK_SECRET with its own label, so a review link never signs a session (nor the reverse).
 */
export function sessionSecretOf(reviewLinkSecret: string, sessionSecret?: string): string {
  return sessionSecret ?? deriveKey(reviewLinkSecret, 'session-secret').toString('hex');
}

export function hmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

/** Constant-time comparison of two strings of possibly different length. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** 403 `unknown_identity`: a valid credential for someone the directory no longer (or never) lists. */
export function unknownIdentity(identity: string): CountersignError {
  const message = `${identity} is not in the directory`;
  return new CountersignError('forbidden', message, { reasons: [{ code: 'unknown_identity', message }] });
}

/**
 * The identity of the request's bearer token: 401 without a valid token, 403 `unknown_identity`
 * when the directory in force does not list it (checked at every use: a reload applies at once).
 */
export function bearerIdentity(req: IncomingMessage, tokens: TokenStore, directory: () => Directory): string {
  const header = req.headers.authorization;
  const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
  if (!match) throw authenticationRequired();
  const found = tokens.identify(match[1] as string);
  if (!found) throw authenticationRequired('the bearer token is not valid');
  if (!directory().get(found.identity)) throw unknownIdentity(found.identity);
  return found.identity;
}

/**
 * Whether the credential a session was opened with still stands for its identity: the token is
 * still configured for it, or the OpenID sign-in still maps to it, and the directory lists it.
 */
export type CredentialCheck = (identity: string, fingerprint: string) => boolean;

export interface Session {
  identity: string;
  /** Random id: what the CSRF token is derived from. */
  id: string;
  expiresAt: number;
}

interface SessionClaims {
  /** identity */
  i: string;
  /** fingerprint of the credential the session was opened with (token or OpenID subject) */
  f: string;
  /** session id */
  s: string;
  /** expiry, ms since the epoch */
  e: number;
}

export class Sessions {
  readonly #key: Buffer;
  readonly #csrfKey: Buffer;

  constructor(
    secret: string,
    private readonly credentialStands: CredentialCheck,
    private readonly ttlSeconds: number,
    /** Only over https: the cookie then carries `Secure`. */
    private readonly secure: boolean,
  ) {
    this.#key = deriveKey(secret, 'session');
    this.#csrfKey = deriveKey(secret, 'session-csrf');
  }

  /** The Set-Cookie header value of a new session for a signed-in credential. */
  issue(who: Identified, now = Date.now()): string {
    const claims: SessionClaims = {
      i: who.identity,
      f: who.fingerprint,
      s: randomBytes(16).toString('base64url'),
      e: now + this.ttlSeconds * 1000,
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return this.#cookie(`${payload}.${hmac(this.#key, payload)}`, this.ttlSeconds);
  }

  /** The Set-Cookie header value that signs out. */
  clear(): string {
    return this.#cookie('', 0);
  }

  /**
   * The request's session: signature valid, not expired, and its credential still standing (so
   * removing a token from API_TOKENS, or the person from the directory, also ends the sessions
   * it opened).
   */
  read(req: IncomingMessage, now = Date.now()): Session | undefined {
    const value = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (!value || value.length > 2048) return undefined;
    const [payload, signature, extra] = value.split('.');
    if (!payload || !signature || extra !== undefined) return undefined;
    if (!sameSecret(signature, hmac(this.#key, payload))) return undefined;
    let claims: SessionClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.e !== 'number' || claims.e <= now || typeof claims.s !== 'string') return undefined;
    if (typeof claims.f !== 'string' || typeof claims.i !== 'string') return undefined;
    if (!this.credentialStands(claims.i, claims.f)) return undefined;
    return { identity: claims.i, id: claims.s, expiresAt: claims.e };
  }

  csrfToken(session: Session): string {
    return hmac(this.#csrfKey, session.id);
  }

  checkCsrf(session: Session, given: string | null): boolean {
    return given !== null && sameSecret(given, this.csrfToken(session));
  }

  #cookie(value: string, maxAge: number): string {
    return [
      `${SESSION_COOKIE}=${value}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${maxAge}`,
      ...(this.secure ? ['Secure'] : []),
    ].join('; ');
  }
}

/**
 * True unless the browser says the request came from another site. `Sec-Fetch-Site` is the
 * strongest signal; `Origin` and `Referer` are checked when sent. Under `Referrer-Policy:
 * no-referrer` browsers send `Origin: null` even for this site's own forms, so `null` proves
 * nothing either way: the form's CSRF token is what binds the POST to a page this server
 * rendered.
 */
export function fromThisOrigin(req: IncomingMessage, publicOrigin: string | undefined): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const allowed = new Set<string>();
  if (publicOrigin) allowed.add(publicOrigin);
  const host = req.headers.host;
  if (host) {
    allowed.add(`http://${host}`);
    allowed.add(`https://${host}`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && !allowed.has(origin)) return false;
  const referer = req.headers.referer;
  if (referer !== undefined) {
    try {
      if (!allowed.has(new URL(referer).origin)) return false;
    } catch {
      return false;
    }
  }
  return true;
}
