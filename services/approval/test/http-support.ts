/**
 * HTTP harness: the approval service harness of support.ts (real Postgres, nats-server, policy
 * service) with the HTTP server started on it at a random port, a bearer token per sample
 * identity, and small fetch helpers. The server stops before the harness (afterAll runs in
 * reverse order of registration).
 */
import { randomBytes } from 'node:crypto';
import { type Directory, mintReviewToken, reviewUrl } from '@countersign/runtime';
import { TEST_AUDIT_KEY, TEST_DIRECTORY_FILE, testSigningKeysFile } from '@countersign/test-fixtures';
import { afterAll } from 'vitest';
import { ApprovalEnv } from '../src/config.js';
import { type HttpServer, type HttpSettings, startHttpServer } from '../src/http/server.js';
import { parseApiTokens } from '../src/http/tokens.js';
import type { ApprovalSettings } from '../src/service.js';
import { startHarness, testLogger } from './support.js';

/** Identities of the test directory (packages/test-fixtures/directory.yaml) and dave, a requester. */
export const IDENTITIES = ['alice', 'bob', 'carol', 'dave', 'frank', 'grace'] as const;
export type Identity = (typeof IDENTITIES)[number];

/** The HTTP settings the schema gives for a test server: any free port, shorter waits. */
function httpDefaults(databaseUrl: string, secret: string): HttpSettings {
  const { http } = ApprovalEnv.parse({
    DATABASE_URL: databaseUrl,
    DIRECTORY_FILE: TEST_DIRECTORY_FILE,
    AUDIT_KEY: TEST_AUDIT_KEY,
    SIGNING_KEYS_FILE: testSigningKeysFile(),
    HTTP_PORT: '0',
    REVIEW_LINK_SECRET: secret,
    SESSION_TTL: '1h',
    HTTP_SSE_HEARTBEAT: '1s',
    HTTP_READY_TIMEOUT: '1s',
  });
  if (!http) throw new Error('HTTP settings expected with HTTP_PORT');
  return http;
}

export async function startHttpHarness(
  label: string,
  options: {
    config?: Partial<ApprovalSettings>;
    http?: Partial<HttpSettings>;
    /** The directory the HTTP server checks identities against; the service's by default. */
    directory?: () => Directory;
  } = {},
) {
  const h = await startHarness(label, options.config);
  const secret = randomBytes(32).toString('base64url');
  const tokens = Object.fromEntries(
    IDENTITIES.map((id) => [id, `${id}-${randomBytes(16).toString('hex')}`]),
  ) as Record<Identity, string>;
  // The defaults are the schema's; a test's own port, secret and quicker heartbeats on top.
  const httpSettings: HttpSettings = { ...httpDefaults(h.db.url, secret), ...options.http };
  const service = options.directory
    ? { metrics: h.service.metrics, deps: { ...h.service.deps, directory: options.directory } }
    : h.service;
  const http: HttpServer = await startHttpServer({
    service,
    nc: h.nc,
    logger: testLogger,
    tokens: parseApiTokens(IDENTITIES.map((id) => `${tokens[id]}:${id}`).join(',')),
    settings: httpSettings,
  });
  afterAll(() => http.stop());
  const base = http.url;

  interface Reply {
    status: number;
    headers: Headers;
    text: string;
    // biome-ignore lint/suspicious/noExplicitAny: JSON of any shape; tests assert on it.
    json: any;
  }

  /** One request; `as` names the bearer identity, `body` objects are sent as JSON. */
  const api = async (
    method: string,
    path: string,
    init: { as?: Identity; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.as) headers.authorization = `Bearer ${tokens[init.as]}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${base}${path}`, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };

  /** A review link for an approver, minted as the notifier does. */
  const reviewLink = (actionId: string, approver: string, expiresAt: Date | string) =>
    reviewUrl(
      base,
      actionId,
      mintReviewToken(secret, { actionId, approver, expiresAt: new Date(expiresAt) }),
    );

  return { ...h, http, httpSettings, base, secret, tokens, api, reviewLink };
}

export type HttpHarness = Awaited<ReturnType<typeof startHttpHarness>>;
