/**
 * Single sign-on for the dashboard with OpenID Connect: the authorization code flow with PKCE
 * (S256), state and nonce (openid-client does the protocol and checks the ID token). What this
 * module adds is Countersign's side of it:
 *
 * - the flow's secrets (state, nonce, PKCE verifier) travel in a short-lived HMAC-signed HttpOnly
 *   cookie, so any replica can finish a sign-in another one started, and nothing is stored;
 * - the ID token's claims are mapped to the directory (subject first, else a verified email); a
 *   person the directory does not list is refused, whatever the provider says about them;
 * - sessions opened this way carry a fingerprint of the provider's subject, so a directory change
 *   that gives the identity another subject ends them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Directory, deriveKey, type Secret } from '@countersign/runtime';
import * as client from 'openid-client';
import { hmac, sameSecret } from './auth.js';
import { parseCookies } from './io.js';

export interface OidcSettings {
  /** The provider's issuer URL; its discovery document is read at start. */
  issuer: string;
  clientId: string;
  clientSecret: Secret;
  /** Space-separated; must include `openid`. */
  scopes: string;
}

/** The cookie that carries one sign-in attempt from its start to the provider's callback. */
export const OIDC_FLOW_COOKIE = 'countersign_oidc';
export const OIDC_CALLBACK_PATH = '/auth/oidc/callback';
/** How long a sign-in at the provider may take. */
const FLOW_TTL_SECONDS = 600;
/** Session fingerprints of OpenID sign-ins start with this; token fingerprints never do. */
const FINGERPRINT_PREFIX = 'oidc:';

interface FlowClaims {
  /** state */
  s: string;
  /** nonce */
  n: string;
  /** PKCE code verifier */
  v: string;
  /** expiry, ms since the epoch */
  e: number;
}

/** Why a callback is refused; the page says it, the log records the code (never a token). */
export class OidcRefusal extends Error {
  constructor(
    readonly reason: 'unknown_identity' | 'invalid_callback' | 'provider_error',
    message: string,
    /** What the log may say about who it was (the subject and whether the email was verified). */
    readonly who: { sub?: string; email_verified?: boolean } = {},
  ) {
    super(message);
    this.name = 'OidcRefusal';
  }
}

export interface OidcSignIn {
  readonly issuer: string;
  /** Where the provider sends people back (register this with the provider). */
  readonly redirectUri: string;
  /** The provider's URL to send the browser to, and the Set-Cookie header holding the flow. */
  begin(): Promise<{ location: string; setCookie: string }>;
  /**
   * Finishes a sign-in: the flow cookie must be valid and match the callback's state, the code is
   * exchanged with the PKCE verifier, the ID token's nonce must match; then the directory decides
   * who it is. Throws OidcRefusal.
   */
  complete(
    req: IncomingMessage,
    callbackUrl: URL,
    directory: Directory,
  ): Promise<{ identity: string; fingerprint: string }>;
  /** The Set-Cookie header that removes the flow cookie. */
  clearFlow(): string;
  /** Whether an OpenID session fingerprint still stands for `identity` in `directory`. */
  stands(directory: Directory, identity: string, fingerprint: string): boolean;
}

/** True for fingerprints of OpenID sessions (token fingerprints are plain base64url). */
export function isOidcFingerprint(fingerprint: string): boolean {
  return fingerprint.startsWith(FINGERPRINT_PREFIX);
}

/** The session fingerprint of a sign-in: a hash of the issuer and the subject, not either itself. */
export function subjectFingerprint(issuer: string, sub: string): string {
  const digest = createHash('sha256').update(`${issuer}\0${sub}`).digest('base64url').slice(0, 22);
  return `${FINGERPRINT_PREFIX}${digest}`;
}

/**
 * Whether an OpenID session still stands: its identity is a person in the directory in force,
 * and when the entry names its subject, the session was opened by that subject.
 */
export function oidcSessionStands(
  directory: Directory,
  issuer: string,
  identity: string,
  fingerprint: string,
): boolean {
  const person = directory.person(identity);
  if (!person || !isOidcFingerprint(fingerprint)) return false;
  const subject = person.oidc?.subject;
  return subject === undefined || sameSecret(fingerprint, subjectFingerprint(issuer, subject));
}

/**
 * Reads the provider's discovery document and returns the sign-in. Fails with a message that
 * names the issuer when it cannot be reached or does not describe an OpenID provider, so a
 * misconfiguration stops the service at start instead of at the first sign-in.
 */
export async function startOidc(options: {
  settings: OidcSettings;
  /** The base URL people reach this server at. */
  publicUrl: string;
  /** HMAC key of the flow cookie. */
  secret: string;
  /** Only over https: the cookie then carries `Secure`. */
  secure: boolean;
  timeoutMs?: number;
}): Promise<OidcSignIn> {
  const { settings } = options;
  const issuerUrl = new URL(settings.issuer);
  const redirectUri = new URL(OIDC_CALLBACK_PATH, options.publicUrl).toString();
  let config: client.Configuration;
  try {
    config = await client.discovery(
      issuerUrl,
      settings.clientId,
      { redirect_uris: [redirectUri], response_types: ['code'] },
      client.ClientSecretBasic(settings.clientSecret.reveal()),
      {
        timeout: Math.ceil((options.timeoutMs ?? 10_000) / 1000),
        // Plain http only to a provider on this machine (a dev or test provider); the config
        // refuses any other http issuer before it gets here.
        ...(issuerUrl.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
      },
    );
  } catch (err) {
    throw new Error(
      `OIDC_ISSUER ${issuerUrl.origin}${issuerUrl.pathname}: OpenID discovery failed (${(err as Error).message})`,
      { cause: err },
    );
  }
  const issuer = config.serverMetadata().issuer;
  const supported = config.serverMetadata().code_challenge_methods_supported;
  if (supported && !supported.includes('S256')) {
    throw new Error(`OIDC_ISSUER ${issuer}: the provider does not support PKCE with S256`);
  }
  const key = deriveKey(options.secret, 'oidc-flow');

  const flowCookie = (value: string, maxAge: number) =>
    [
      `${OIDC_FLOW_COOKIE}=${value}`,
      `Path=${OIDC_CALLBACK_PATH}`,
      'HttpOnly',
      // Lax, not Strict: the callback is a navigation from the provider's site, and a Strict
      // cookie would not come with it. The cookie proves only that this browser started the flow.
      'SameSite=Lax',
      `Max-Age=${maxAge}`,
      ...(options.secure ? ['Secure'] : []),
    ].join('; ');

  const readFlow = (req: IncomingMessage): FlowClaims | undefined => {
    const value = parseCookies(req.headers.cookie).get(OIDC_FLOW_COOKIE);
    if (!value || value.length > 1024) return undefined;
    const [payload, signature, extra] = value.split('.');
    if (!payload || !signature || extra !== undefined) return undefined;
    if (!sameSecret(signature, hmac(key, payload))) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as FlowClaims;
      if (typeof claims.e !== 'number' || claims.e <= Date.now()) return undefined;
      if (typeof claims.s !== 'string' || typeof claims.n !== 'string' || typeof claims.v !== 'string')
        return undefined;
      return claims;
    } catch {
      return undefined;
    }
  };

  return {
    issuer,
    redirectUri,
    async begin() {
      const flow: FlowClaims = {
        s: client.randomState(),
        n: client.randomNonce(),
        v: client.randomPKCECodeVerifier(),
        e: Date.now() + FLOW_TTL_SECONDS * 1000,
      };
      const location = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: settings.scopes,
        response_type: 'code',
        state: flow.s,
        nonce: flow.n,
        code_challenge: await client.calculatePKCECodeChallenge(flow.v),
        code_challenge_method: 'S256',
      });
      // A random suffix keeps two tabs' cookies from being byte-identical; the last one started wins.
      const payload = Buffer.from(JSON.stringify({ ...flow, r: randomBytes(4).toString('hex') })).toString(
        'base64url',
      );
      return {
        location: location.href,
        setCookie: flowCookie(`${payload}.${hmac(key, payload)}`, FLOW_TTL_SECONDS),
      };
    },
    async complete(req, callbackUrl, directory) {
      const flow = readFlow(req);
      if (!flow) {
        throw new OidcRefusal(
          'invalid_callback',
          'This sign-in was not started here, or took too long. Start again from the sign-in page.',
        );
      }
      if (callbackUrl.searchParams.has('error')) {
        throw new OidcRefusal('provider_error', 'The identity provider did not sign you in.');
      }
      let claims: { sub: string; email?: unknown; email_verified?: unknown } | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: flow.v,
          expectedState: flow.s,
          expectedNonce: flow.n,
          idTokenExpected: true,
        });
        claims = tokens.claims();
        // Many providers put only `sub` in the ID token of a code flow and the rest in userinfo;
        // openid-client checks that the userinfo's subject is the ID token's.
        if (claims && claims.email === undefined && tokens.access_token) {
          const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
          claims = { sub: claims.sub, email: info.email, email_verified: info.email_verified };
        }
      } catch {
        // The library's message may quote the provider's response: the page stays generic.
        throw new OidcRefusal(
          'invalid_callback',
          'The sign-in could not be verified. Start again from the sign-in page.',
        );
      }
      if (!claims) throw new OidcRefusal('invalid_callback', 'The identity provider sent no ID token.');
      const emailVerified = claims.email_verified === true;
      const person = directory.identityOfOidc({
        sub: claims.sub,
        email: typeof claims.email === 'string' ? claims.email : undefined,
        email_verified: emailVerified,
      });
      if (!person) {
        throw new OidcRefusal(
          'unknown_identity',
          'You signed in at the identity provider, but Countersign does not know you: your account is not in its directory (or your email is not verified). Ask the Countersign operators to add you.',
          { sub: claims.sub, email_verified: emailVerified },
        );
      }
      // An entry that names its subject is that subject's alone: another account at the
      // provider with the same verified email is not this person.
      if (person.oidc?.subject !== undefined && person.oidc.subject !== claims.sub) {
        throw new OidcRefusal(
          'unknown_identity',
          'This account at the identity provider is not the one the directory names for you. Ask the Countersign operators.',
          { sub: claims.sub, email_verified: emailVerified },
        );
      }
      return { identity: person.id, fingerprint: subjectFingerprint(issuer, claims.sub) };
    },
    clearFlow: () => flowCookie('', 0),
    stands: (directory, identity, fingerprint) => oidcSessionStands(directory, issuer, identity, fingerprint),
  };
}
