/**
 * Secrets never reach the logs: the three services run as processes at the most verbose log
 * level with every secret configured (a database password, NATS passwords under the shipped
 * least-privilege accounts, an SMTP password, the review-link and session secrets, a webhook
 * secret, API tokens, the receipt signing key), a whole approval goes through (HTTP submit,
 * email with a review link whose token is a credential too, a webhook refused once by a
 * receiver that echoes what it got, a dashboard sign-in, a wrong token, an HTTP decision), and
 * every line the services wrote is searched for every secret,
 * plain, URL-encoded and base64. (The notifier's and the approval service's own tests cover
 * their single processes; this one covers all three and the credentials they share.)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMailSink } from '@countersign/devinfra';
import { onFileEnd, spawnService, useTestDatabase, waitUntil } from '@countersign/test-fixtures';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { generateSigningJwk, keySetText } from '../packages/runtime/src/signing-keys.js';
import { startReceiver } from '../services/notifier/test/helpers/receiver.js';
import { FAST_APPROVAL_ENV, httpUrlOf, NATS_ROLES, payment, startSecuredNats } from './support.js';

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
const signingKey = generateSigningJwk('logs');
const secrets = {
  // The private part of the receipt signing key, given inline (SIGNING_KEYS).
  signingKey: signingKey.d,
  db: secret('dbpass'),
  smtp: secret('smtppass'),
  review: secret('review-link-secret-0123456789'),
  session: secret('session-secret-0123456789abcdef'),
  audit: secret('audit-key-0123456789abcdef'),
  webhook: `whsec_${randomBytes(24).toString('base64')}`,
  frankToken: secret('frank-token'),
  daveToken: secret('dave-token'),
};

const { passwords, as } = await startSecuredNats();
const db = await useTestDatabase('secrets_in_logs');

// A database role of its own, with a password, owning the test database.
const role = `cs_app_${randomBytes(3).toString('hex')}`;
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();
await admin.query(`create role ${role} login password '${secrets.db}'`);
await admin.query(`alter database ${db.name} owner to ${role}`);
await admin.end();
onFileEnd(async () => {
  const cleanup = new pg.Client({ connectionString: db.url });
  await cleanup.connect();
  await cleanup.query(`alter database ${db.name} owner to postgres`);
  await cleanup.query(`reassign owned by ${role} to postgres`);
  await cleanup.end();
  const server = new URL(db.url);
  server.pathname = '/postgres';
  const top = new pg.Client({ connectionString: server.toString() });
  await top.connect();
  await top.query(`drop role if exists ${role}`).catch(() => {});
  await top.end();
});
const databaseUrl = new URL(db.url);
databaseUrl.username = role;
databaseUrl.password = secrets.db;

const mail = await startMailSink();
onFileEnd(mail.stop);
const smtpUrl = new URL(mail.url);
smtpUrl.username = 'countersign';
smtpUrl.password = secrets.smtp;
// A careless receiver: the first attempt is refused with everything it was sent echoed back.
const hook = await startReceiver((n, request) =>
  n === 1
    ? { status: 500, body: `refused ${JSON.stringify(request.headers)} ${request.body}` }
    : { status: 204 },
);
onFileEnd(hook.close);

const verbose = { LOG_LEVEL: 'trace' };
const policy = await spawnService('policy', { env: { ...as('policy'), ...verbose } });
const approval = await spawnService('approval', {
  env: {
    ...as('approval'),
    ...FAST_APPROVAL_ENV,
    ...verbose,
    DATABASE_URL: databaseUrl.toString(),
    HTTP_PORT: '0',
    REVIEW_LINK_SECRET: secrets.review,
    SESSION_SECRET: secrets.session,
    AUDIT_KEY: secrets.audit,
    API_TOKENS: `${secrets.frankToken}:frank,${secrets.daveToken}:dave`,
    SIGNING_KEYS: keySetText([signingKey]),
  },
});
const base = httpUrlOf(approval) as string;
const channels = join(mkdtempSync(join(tmpdir(), 'countersign-secrets-')), 'channels.yaml');
writeFileSync(
  channels,
  stringify({
    channels: [
      { name: 'mail', type: 'email', from: 'countersign@example.com', requester: true },
      { name: 'hook', type: 'webhook', url: hook.url, secret_env: 'HOOK_SECRET' },
    ],
  }),
);
const notifier = await spawnService('notifier', {
  env: {
    ...as('notifier'),
    ...verbose,
    DATABASE_URL: databaseUrl.toString(),
    NOTIFIER_CONFIG: channels,
    SMTP_URL: smtpUrl.toString(),
    PUBLIC_URL: base,
    REVIEW_LINK_SECRET: secrets.review,
    HOOK_SECRET: secrets.webhook,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    NOTIFIER_RETRY_SCHEDULE: '0,100ms,200ms',
    NOTIFIER_POLL_INTERVAL: '100ms',
  },
});

const api = (token: string, method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** Every form a secret could take in a log line. */
function forms(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    Buffer.from(value).toString('base64'),
    JSON.stringify(value).slice(1, -1),
  ];
}

describe('secrets in logs', () => {
  it('appear in no log line of any service after a whole approval went through', async () => {
    const submitted = await api(secrets.daveToken, 'POST', '/api/v1/approvals', payment('secret-flow', 1500));
    expect(submitted.status).toBe(200);
    // The approver's email carries a review link signed with the secret; opening it works.
    const email = await waitUntil(() => mail.received.find((m) => m.to.includes('frank@example.test')), {
      message: "frank's email",
    });
    const link = email.text.match(/https?:\/\/\S+\/review\?token=\S+/)?.[0] as string;
    expect((await fetch(link)).status).toBe(200);
    // The review token is a credential (one vote as frank): the access log names the request, not it.
    const reviewToken = new URL(link).searchParams.get('token') as string;
    expect(reviewToken.length).toBeGreaterThan(20);
    // A dashboard sign-in (session secret) and a wrong token.
    const login = await fetch(`${base}/dashboard/login`, {
      method: 'POST',
      headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: secrets.frankToken }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    expect((await api(`${secrets.frankToken}x`, 'GET', '/api/v1/stats')).status).toBe(401);
    const decided = await api(secrets.frankToken, 'POST', '/api/v1/approvals/secret-flow/decide', {
      approved: true,
    });
    expect(decided.status).toBe(200);
    // The decided email reached the requester; the webhook was refused once, then delivered.
    await waitUntil(
      () => mail.received.some((m) => m.to.includes('dave@example.test')) && hook.requests.length >= 3,
      { message: 'the decided email and the webhook retries' },
    );

    const logs = { policy: policy.logs(), approval: approval.logs(), notifier: notifier.logs() };
    // The logs are real: verbose, and they tell the story (so an empty log cannot pass).
    expect(logs.approval.some((l) => l.includes('"msg":"vote recorded"'))).toBe(true);
    expect(logs.notifier.some((l) => l.includes('refused'))).toBe(true);
    expect(logs.policy.length).toBeGreaterThan(3);
    // The access log is on at this level and recorded the review request, its token redacted.
    expect(
      logs.approval.some((l) => l.includes('"msg":"http request"') && l.includes('/review?token=[redacted]')),
    ).toBe(true);
    const all: Record<string, string> = { ...secrets, ...passwords, reviewToken };
    const leaks: string[] = [];
    for (const [service, lines] of Object.entries(logs)) {
      const text = lines.join('\n');
      for (const [name, value] of Object.entries(all)) {
        for (const form of forms(value)) if (text.includes(form)) leaks.push(`${service}: ${name}`);
      }
      // The webhook secret without its prefix is the key itself.
      if (text.includes(secrets.webhook.slice('whsec_'.length))) leaks.push(`${service}: webhook key`);
    }
    expect(leaks).toEqual([]);
    expect(Object.keys(all)).toEqual(
      expect.arrayContaining([...NATS_ROLES, 'db', 'smtp', 'review', 'session', 'signingKey']),
    );
  });
});
