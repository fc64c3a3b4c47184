/**
 * Single sign-on harness: the HTTP harness, a real OpenID provider on loopback (oidc-provider,
 * see @countersign/devinfra) with the accounts the tests play, and a second HTTP server on the
 * same service with OIDC configured against it, logging into `logs`.
 */
import { randomBytes } from 'node:crypto';
import { freePort, startOidcProvider } from '@countersign/devinfra';
import { Secret } from '@countersign/runtime';
import { afterAll } from 'vitest';
import { startHttpServer } from '../src/http/server.js';
import { parseApiTokens } from '../src/http/tokens.js';
import { IDENTITIES, startHttpHarness } from './http-support.js';
import { capturingLogger } from './support.js';

/**
 * Accounts at the provider, by subject (what its login page takes). frank's email is the test
 * directory's, verified; mallory is not in the directory; the third claims grace's email
 * without the provider having verified it.
 */
export const OIDC_ACCOUNTS = {
  'sub-7f3a-frank': { email: 'frank@example.test', email_verified: true, name: 'Frank' },
  'sub-mallory': { email: 'mallory@example.test', email_verified: true, name: 'Mallory' },
  'sub-unverified': { email: 'grace@example.test', email_verified: false, name: 'Not Grace' },
} as const;
export type OidcAccountId = keyof typeof OIDC_ACCOUNTS;

export async function startSsoHarness(label: string, options: { signInPerMinute?: number } = {}) {
  const h = await startHttpHarness(label);
  // The redirect URI is registered with the provider before the server starts: a fixed port.
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const clientSecret = `client-secret-${randomBytes(16).toString('hex')}`;
  const provider = await startOidcProvider({
    accounts: OIDC_ACCOUNTS,
    clients: [
      {
        client_id: 'countersign',
        client_secret: clientSecret,
        redirect_uris: [`${base}/auth/oidc/callback`],
      },
    ],
  });
  afterAll(() => provider.stop());
  const { logger, lines: logs } = capturingLogger();
  const server = await startHttpServer({
    service: h.service,
    nc: h.nc,
    logger,
    tokens: parseApiTokens(IDENTITIES.map((id) => `${h.tokens[id]}:${id}`).join(',')),
    settings: {
      ...h.httpSettings,
      port,
      publicUrl: base,
      signInPerMinute: options.signInPerMinute ?? 1000,
      oidc: {
        issuer: provider.issuer,
        clientId: 'countersign',
        clientSecret: new Secret(clientSecret),
        scopes: 'openid email profile',
      },
    },
  });
  afterAll(() => server.stop());
  return { ...h, sso: { base, server, provider, clientSecret, logs } };
}
