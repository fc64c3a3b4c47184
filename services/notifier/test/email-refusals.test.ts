import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decidedEvent, makeApproval, pendingEvent } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import { startTestNotifier, testEnv, writeDirectory } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { mailAbout, startSmtpSink } from './helpers/smtp-sink.js';

/**
 * Email that must not go out, end to end against a real SMTP server (smtp-server, in this
 * process): STARTTLS, required by default, against a server that offers none, a login the server refuses
 * (535), and a pending approval whose event arrives after it expired.
 */
const nats = await useTestNats();
const db = await useTestDatabase('notifier_email_refusals');

const directoryFile = writeDirectory({
  alice: { email: 'alice@example.com', roles: ['finance'] },
  frank: { email: 'frank@example.com', roles: ['finance'] },
  dave: { email: 'dave@example.com', roles: ['finance'] },
});
const emailChannel = { name: 'approvers', type: 'email', from: 'countersign@example.com', requester: true };

let nc: NatsConnection;
let events: EventPublisher;
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
});
afterAll(async () => {
  await nc.close();
});

/** The approval's deliveries once none is waiting for an attempt any more. */
const settled = (pool: Parameters<typeof deliveriesOf>[0], actionId: string, count: number) =>
  waitUntil(
    async () => {
      const rows = await deliveriesOf(pool, actionId);
      return (
        rows.length === count && rows.every((r) => r.status === 'delivered' || r.status === 'dead') && rows
      );
    },
    { timeout: 30_000, message: `${count} settled deliveries of ${actionId}` },
  );

describe('SMTP refusals', () => {
  it('by default (no starttls option), sends neither the message nor the credentials to a server that offers no TLS', async () => {
    const sink = await startSmtpSink();
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.defaultUrl }),
      { channels: [emailChannel] },
    );
    try {
      const approval = makeApproval();
      await events.publish(pendingEvent(approval));
      const rows = await settled(run.pool, approval.action_id, 2);
      for (const row of rows) {
        expect(row.status).toBe('dead');
        // The server answered the STARTTLS with a permanent 5xx: not retried (the schedule would
        // allow three attempts), the reason kept with the attempt.
        expect(row.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([['failed', 500]]);
        expect(row.last_error).toContain('ETLS: Error upgrading connection with STARTTLS');
      }
      // The client asked for STARTTLS, was refused, and stopped: no AUTH, no envelope, no data.
      expect(sink.commands).toContain('STARTTLS');
      expect(sink.commands.filter((c) => ['AUTH', 'MAIL', 'RCPT', 'DATA'].includes(c))).toEqual([]);
      expect(sink.logins).toEqual([]);
      expect(sink.received).toEqual([]);
      expect(run.logs().join('\n')).not.toContain('sink-password');
      // Required TLS is the default: no plaintext warning at start.
      expect(run.logs().join('\n')).not.toContain('starttls=optional');
    } finally {
      await run.stop();
      await sink.close();
    }
  });

  it('dead-letters on a 535 login refusal after one attempt, with the reply in the attempt log', async () => {
    const sink = await startSmtpSink();
    const wrong = new URL(sink.url);
    wrong.password = 'not-the-sink-password';
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: wrong.toString() }),
      {
        channels: [emailChannel],
      },
    );
    try {
      const approval = makeApproval();
      await events.publish(pendingEvent(approval));
      const rows = await settled(run.pool, approval.action_id, 2);
      for (const row of rows) {
        // Bad credentials do not fix themselves: not retried (the schedule would allow three).
        expect(row.status).toBe('dead');
        expect(row.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([['failed', 535]]);
        expect(row.last_error).toContain('Invalid credentials');
        expect(row.last_error).not.toContain('not-the-sink-password');
      }
      expect(sink.logins).toEqual(['notifier', 'notifier']);
      expect(sink.commands.filter((c) => ['MAIL', 'RCPT', 'DATA'].includes(c))).toEqual([]);
      expect(sink.received).toEqual([]);
      expect(run.logs().join('\n')).not.toContain('not-the-sink-password');
    } finally {
      await run.stop();
      await sink.close();
    }
  });
});

describe('a pending event that arrives after its approval expired', () => {
  it('notifies nobody about it (the review links would be dead), but still reports its outcome', async () => {
    const sink = await startSmtpSink();
    const folder = mkdtempSync(join(tmpdir(), 'approvals-expired-'));
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.url }),
      {
        channels: [emailChannel, { name: 'vault', type: 'markdown', directory: folder, watch: false }],
      },
    );
    try {
      const hourAgo = Date.now() - 3600_000;
      const expired = makeApproval({
        created_at: new Date(hourAgo - 60_000).toISOString(),
        expires_at: new Date(hourAgo).toISOString(),
      });
      const fresh = makeApproval();
      await events.publish(pendingEvent(expired));
      await events.publish(pendingEvent(fresh));
      // The event after it was handled: the expired one was seen (the notifier takes events in
      // order), and planned nothing.
      await settled(run.pool, fresh.action_id, 3);
      expect(await deliveriesOf(run.pool, expired.action_id)).toEqual([]);
      expect(sink.received.filter(mailAbout(expired.action_id))).toEqual([]);
      expect(existsSync(join(folder, `approval_${expired.action_id}.md`))).toBe(false);
      expect(existsSync(join(folder, `approval_${fresh.action_id}.md`))).toBe(true);

      // Its outcome (expired) still reaches the requester and the folder.
      await events.publish(decidedEvent(expired, 'expired', 'countersign'));
      const rows = await settled(run.pool, expired.action_id, 2);
      expect(rows.map((r) => [r.event_type, r.channel, r.target, r.status])).toEqual([
        ['approval.decided', 'approvers', 'dave@example.com', 'delivered'],
        ['approval.decided', 'vault', `approval_${expired.action_id}.md`, 'delivered'],
      ]);
      expect(
        sink
          .accepted()
          .filter(mailAbout(expired.action_id))
          .map((m) => m.to),
      ).toEqual([['dave@example.com']]);
    } finally {
      await run.stop();
      await sink.close();
    }
  });
});
