/**
 * A real OpenID Connect provider (the oidc-provider package) on loopback, for the dashboard's
 * single sign-on tests and a local try-out: discovery, the authorization endpoint with its login
 * and consent pages, the token endpoint, userinfo and signed ID tokens, as any provider serves
 * them. Its login page (oidc-provider's development interactions) signs in any listed account by
 * its id, with any password: it stands for the provider's own authentication, which is not what
 * the tests are about. PKCE is required for every client.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Configuration } from 'oidc-provider';

export interface OidcAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface OidcClientRegistration {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export interface OidcProviderOptions {
  /** Accounts by subject (`sub`, also what the login page takes). */
  accounts: Record<string, OidcAccount>;
  clients: OidcClientRegistration[];
  /** 0 or absent = any free port. */
  port?: number;
}

export interface OidcProviderHandle {
  /** The issuer URL, e.g. http://127.0.0.1:41234 */
  issuer: string;
  stop(): Promise<void>;
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProviderHandle> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configuration: Configuration = {
    clients: options.clients.map((c) => ({
      ...c,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    async findAccount(_ctx, sub) {
      const account = options.accounts[sub];
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...account }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('hex')] },
  };
  // Loaded here, not at import: it warns about the Node.js release when loaded (it runs on the
  // release this repository supports), and only the tests that start it should say so.
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(issuer, configuration);
  // Its development-only warnings are expected here; the tests' output stays quiet.
  provider.on('server_error', () => {});
  server.on('request', provider.callback());
  return {
    issuer,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
