import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeApprovalEvent } from '@countersign/contracts';
import { spawnService, useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { makeApproval, pendingEvent } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import { REVIEW_SECRET, testEnv, WEBHOOK_SECRET, writeDirectory } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { startReceiver } from './helpers/receiver.js';
import { startSmtpSink } from './helpers/smtp-sink.js';

/** The notifier as a real process (main.ts): crashes, restarts and its actual log output. */
const nats = await useTestNats();
const db = await useTestDatabase('notifier_process');

let nc: NatsConnection;
let events: EventPublisher;
let pool: pg.Pool;
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // The database is dropped with its connections at file end: an idle client's error then is expected.
  pool.on('error', () => {});
});
afterAll(async () => {
  await pool.end();
  await nc.close();
});

function channelsFile(document: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'notifier-test-'));
  const path = join(dir, 'channels.yaml');
  writeFileSync(path, stringify(document));
  return path;
}

const directoryFile = writeDirectory({
  alice: { email: 'alice@example.com', roles: ['finance'] },
  frank: { email: 'frank@example.com', roles: ['finance'] },
});

describe('notifier process', () => {
  it('killed mid-delivery and restarted, sends no email twice', async () => {
    // alice's first message is read completely but never answered: the SMTP server may have
    // taken it. That is the moment the notifier is killed.
    const sink = await startSmtpSink({
      answer: (recipient, attempt) =>
        recipient === 'alice@example.com' && attempt === 1 ? { kind: 'stall' } : { kind: 'accept' },
    });
    const notifier = await spawnService('notifier', {
      autoStop: false, // stopped in finally; a test body cannot register afterAll
      env: testEnv(db, nats.url, {
        DIRECTORY_FILE: directoryFile,
        SMTP_URL: sink.url,
        NOTIFIER_CONFIG: channelsFile({
          channels: [{ name: 'crash-mail', type: 'email', from: 'countersign@example.com' }],
        }),
        SMTP_TIMEOUT: '3s',
        WEBHOOK_TIMEOUT: '1s',
        NOTIFIER_LEASE: '4s',
      }),
    });
    try {
      const approval = makeApproval();
      const event = pendingEvent(approval);
      await events.publish(event);
      await waitUntil(() => sink.received.some((m) => m.to[0] === 'alice@example.com'));
      await waitUntil(async () =>
        (await deliveriesOf(pool, approval.action_id)).some(
          (d) => d.target === 'frank@example.com' && d.status === 'delivered',
        ),
      );
      await notifier.crash();
      const [inFlight] = (await deliveriesOf(pool, approval.action_id)).filter(
        (d) => d.target === 'alice@example.com',
      );
      expect(inFlight?.status).toBe('in_progress');

      await notifier.restart();
      // The lease runs out; the attempt is recorded as interrupted and, for email, not resent.
      const alice = await waitUntil(async () => {
        const rows = await deliveriesOf(pool, approval.action_id);
        const row = rows.find((d) => d.target === 'alice@example.com');
        return row?.status === 'dead' && row;
      });
      expect(alice.attempt_log.map((a) => a.outcome)).toEqual(['interrupted']);
      expect(alice.last_error).toContain('not resent to avoid a duplicate');

      // The same event again (a redelivery under another stream message) creates nothing new.
      await events.publishRaw(`approval.pending.${approval.action_id}`, encodeApprovalEvent(event));
      // And a new approval goes out normally after the restart: a barrier for the line above.
      const next = makeApproval();
      await events.publish(pendingEvent(next));
      await waitUntil(
        async () =>
          (await deliveriesOf(pool, next.action_id)).filter((d) => d.status === 'delivered').length === 2,
      );
      const firstApproval = sink.received.filter((m) => m.email.subject?.includes(approval.action_id));
      expect(firstApproval.map((m) => m.to[0]).sort()).toEqual(['alice@example.com', 'frank@example.com']);
      expect(await deliveriesOf(pool, approval.action_id)).toHaveLength(2);
      expect(notifier.logs().join('\n')).toContain('recovered an interrupted delivery attempt');
    } finally {
      await notifier.stop();
      await sink.close();
    }
  });

  it('never writes a secret to its logs, even when receivers echo them', async () => {
    const smtpPassword = 'smtp-Pa55word-do-not-log';
    const slackPath = '/services/T0001/B0002/slackTOKENdoNotLog42';
    // The SMTP sink expects another password: every email fails authentication.
    const sink = await startSmtpSink({ password: 'the-real-password' });
    const badSmtpUrl = sink.url.replace(':the-real-password@', `:${smtpPassword}@`);
    // Receivers that echo what they were sent, as a careless one might in an error page.
    const slack = await startReceiver((_n, request) => ({
      status: 500,
      body: `unknown hook ${request.path}`,
    }));
    const hook = await startReceiver((_n, request) => ({
      status: 400,
      body: `bad ${JSON.stringify(request.headers)}`,
    }));
    const slackUrl = `http://127.0.0.1:${slack.port}${slackPath}`;
    // The test server trusts local connections, so any password works; it must not show up either.
    const dbPassword = 'db-Pa55word-do-not-log';
    const databaseUrl = db.url.replace('postgres://postgres@', `postgres://postgres:${dbPassword}@`);
    expect(databaseUrl).toContain(dbPassword);
    const notifier = await spawnService('notifier', {
      autoStop: false,
      env: testEnv(db, nats.url, {
        DIRECTORY_FILE: directoryFile,
        SMTP_URL: badSmtpUrl,
        SLACK_URL: slackUrl,
        DATABASE_URL: databaseUrl,
        LOG_LEVEL: 'trace',
        NOTIFIER_CONSUMER: 'notifier-logs',
        NOTIFIER_CONFIG: channelsFile({
          channels: [
            { name: 'logs-mail', type: 'email', from: 'countersign@example.com' },
            { name: 'logs-slack', type: 'slack', url_env: 'SLACK_URL' },
            { name: 'logs-hook', type: 'webhook', url: hook.url, secret_env: 'WEBHOOK_SECRET' },
          ],
        }),
      }),
    });
    try {
      const approval = makeApproval();
      await events.publish(pendingEvent(approval));
      const rows = await waitUntil(async () => {
        const found = await deliveriesOf(pool, approval.action_id);
        return found.length === 4 && found.every((d) => d.status === 'dead') && found;
      });
      // The failures really happened and were logged with their reasons.
      const logs = notifier.logs().join('\n');
      expect(logs).toContain('delivery dead-lettered');
      expect(logs).toContain('Invalid credentials');
      expect(logs).toContain('unknown hook');
      const stored = rows.map((r) => r.attempt_log.map((a) => a.error).join(' ')).join('\n');
      for (const secret of [
        dbPassword,
        smtpPassword,
        encodeURIComponent(smtpPassword),
        slackPath,
        'slackTOKENdoNotLog42',
        WEBHOOK_SECRET,
        WEBHOOK_SECRET.slice('whsec_'.length),
        REVIEW_SECRET,
      ]) {
        expect(logs).not.toContain(secret);
        expect(stored).not.toContain(secret);
      }
      expect(stored).toContain('[redacted]');
    } finally {
      await notifier.stop();
      await Promise.all([sink.close(), slack.close(), hook.close()]);
    }
  });
});
