import { writeFileSync } from 'node:fs';
import { verifyReviewToken } from '@countersign/runtime';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decidedEvent, makeApproval, pendingEvent } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import {
  directoryText,
  REVIEW_SECRET,
  startTestNotifier,
  testEnv,
  writeDirectory,
} from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { mailAbout, startSmtpSink } from './helpers/smtp-sink.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_email');

const directoryFile = writeDirectory({
  alice: { email: 'alice@example.com', roles: ['finance', 'ops'] },
  frank: { email: 'frank@example.com', roles: ['finance'] },
  bob: { email: 'bob@example.com', roles: ['ops'] },
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

describe('email channel', () => {
  it('emails each finance approver a personal, working review link, with text and escaped HTML', async () => {
    const sink = await startSmtpSink();
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.url }),
      {
        channels: [emailChannel],
      },
    );
    try {
      const approval = makeApproval({
        description: 'Pay <script>alert("x")</script> & settle invoice',
        context: { amount: 1500, currency: 'EUR', memo: '<img src=x onerror=alert(1)>' },
        requested_by: 'dave',
      });
      await events.publish(pendingEvent(approval));
      const mails = await waitUntil(() => {
        const found = sink.accepted().filter(mailAbout(approval.action_id));
        return found.length === 2 && found;
      });
      // The sink has no TLS, so its URL allows plaintext explicitly, and the notifier says so at start.
      expect(sink.url).toContain('?starttls=optional');
      expect(run.logs().some((l) => l.includes('"level":40') && l.includes('starttls=optional'))).toBe(true);
      // Finance approvers only; the requester dave holds the role but never gets a link to approve himself.
      expect(mails.flatMap((m) => m.to).sort()).toEqual(['alice@example.com', 'frank@example.com']);

      for (const mail of mails) {
        const { email } = mail;
        const identity = mail.to[0] === 'alice@example.com' ? 'alice' : 'frank';
        expect(email.subject).toContain('payment');
        expect(email.subject).toContain('high risk');
        const text = email.text ?? '';
        expect(text).toContain(approval.description);
        expect(text).toMatch(/amount:\s+1500/);
        expect(text).toContain('amount_threshold: amount 1500 is at least 500');
        expect(text).toMatch(/Expires:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

        const html = email.html ?? '';
        expect(html).toContain('Pay &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; settle invoice');
        expect(html).not.toContain('<script>');
        expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
        expect(html).not.toContain('<img');

        const link = /https:\/\/countersign\.test\/approvals\/\S+/.exec(text)?.[0];
        expect(link).toBeDefined();
        const url = new URL(link as string);
        expect(url.pathname).toBe(`/approvals/${approval.action_id}/review`);
        const claims = verifyReviewToken(
          REVIEW_SECRET,
          url.searchParams.get('token') ?? '',
          approval.action_id,
        );
        expect(claims.v).toBe(identity);
        expect(claims.e).toBe(Math.floor(Date.parse(approval.expires_at) / 1000));
        expect(html).toContain(`href="${link}"`);
      }

      // The decision goes to the requester.
      await events.publish(decidedEvent(approval, 'approved', 'alice'));
      const decided = await waitUntil(() =>
        sink
          .accepted()
          .find((m) => mailAbout(approval.action_id)(m) && m.email.subject?.includes('approved')),
      );
      expect(decided.to).toEqual(['dave@example.com']);
      expect(decided.email.text).toContain('Decided by:');
      expect(decided.email.text).toContain('alice');

      // The sink has the mail before the notifier records its 250: wait for the record.
      const rows = await waitUntil(async () => {
        const found = await deliveriesOf(run.pool, approval.action_id);
        return found.length === 3 && found.every((r) => r.status !== 'in_progress') && found;
      });
      expect(rows.map((r) => [r.event_type, r.target, r.status])).toEqual([
        ['approval.pending', 'alice@example.com', 'delivered'],
        ['approval.pending', 'frank@example.com', 'delivered'],
        ['approval.decided', 'dave@example.com', 'delivered'],
      ]);
    } finally {
      await run.stop();
      await sink.close();
    }
  });

  it('asks whom the directory names now: a reload changes who is asked, without a restart', async () => {
    const file = writeDirectory({
      alice: { email: 'alice@example.com', roles: ['finance'] },
      dave: { email: 'dave@example.com' },
    });
    const sink = await startSmtpSink();
    const run = await startTestNotifier(testEnv(db, nats.url, { DIRECTORY_FILE: file, SMTP_URL: sink.url }), {
      channels: [emailChannel],
    });
    try {
      const recipientsOf = (approval: { action_id: string }, count: number) =>
        waitUntil(
          () => {
            const found = sink.accepted().filter(mailAbout(approval.action_id));
            return found.length === count && found.flatMap((m) => m.to).sort();
          },
          { message: `${count} emails about ${approval.action_id}` },
        );
      const before = makeApproval();
      await events.publish(pendingEvent(before));
      expect(await recipientsOf(before, 1)).toEqual(['alice@example.com']);

      // Ops move the finance role from alice to zoe (a new person) and add frank.
      writeFileSync(
        file,
        directoryText({
          alice: { email: 'alice@example.com', roles: ['ops'] },
          zoe: { email: 'zoe@example.com', roles: ['finance'] },
          frank: { email: 'frank@example.com', roles: ['finance'] },
          dave: { email: 'dave@example.com' },
        }),
      );
      await waitUntil(() => run.directory.current().person('zoe'), { message: 'the directory to reload' });
      const after = makeApproval();
      await events.publish(pendingEvent(after));
      expect(await recipientsOf(after, 2)).toEqual(['frank@example.com', 'zoe@example.com']);
      expect(run.logs().some((l) => l.includes('"msg":"directory reloaded"'))).toBe(true);
    } finally {
      await run.stop();
      await sink.close();
    }
  });

  it('retries an SMTP 451 until delivered, and treats a 550 as permanent', async () => {
    const sink = await startSmtpSink({
      answer: (recipient, attempt) => {
        if (recipient === 'frank@example.com') return { kind: 'reject', code: 550, message: 'No such user' };
        if (attempt <= 2) return { kind: 'reject', code: 451, message: 'Try again later' };
        return { kind: 'accept' };
      },
    });
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.url }),
      {
        channels: [emailChannel],
      },
    );
    try {
      const approval = makeApproval();
      await events.publish(pendingEvent(approval));
      const rows = await waitUntil(async () => {
        const found = await deliveriesOf(run.pool, approval.action_id);
        return (
          found.length === 2 && found.every((r) => r.status === 'delivered' || r.status === 'dead') && found
        );
      });
      const alice = rows.find((r) => r.target === 'alice@example.com');
      const frank = rows.find((r) => r.target === 'frank@example.com');
      expect(alice?.status).toBe('delivered');
      expect(alice?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
        ['retry', 451],
        ['retry', 451],
        ['delivered', 250],
      ]);
      expect(frank?.status).toBe('dead');
      expect(frank?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([['failed', 550]]);
      expect(frank?.last_error).toContain('No such user');
      // One message reached alice; frank's server was asked exactly once.
      expect(
        sink
          .accepted()
          .filter(mailAbout(approval.action_id))
          .map((m) => m.to),
      ).toEqual([['alice@example.com']]);
      expect(sink.attemptsFor('frank@example.com')).toBe(1);
    } finally {
      await run.stop();
      await sink.close();
    }
  });
  it('drops a pending email still waiting for its retry once the approval is decided', async () => {
    const sink = await startSmtpSink({
      answer: () => ({ kind: 'reject', code: 451, message: 'Try again later' }),
    });
    const run = await startTestNotifier(
      testEnv(db, nats.url, {
        DIRECTORY_FILE: directoryFile,
        SMTP_URL: sink.url,
        NOTIFIER_RETRY_SCHEDULE: '0,30s',
      }),
      { channels: [{ ...emailChannel, requester: false }] },
    );
    try {
      const approval = makeApproval();
      await events.publish(pendingEvent(approval));
      await waitUntil(async () => {
        const rows = await deliveriesOf(run.pool, approval.action_id);
        return rows.length === 2 && rows.every((r) => r.status === 'scheduled' && r.attempts === 1);
      });
      await events.publish(decidedEvent(approval, 'cancelled', 'dave'));
      const rows = await waitUntil(async () => {
        const found = await deliveriesOf(run.pool, approval.action_id);
        return found.every((r) => r.status === 'superseded') && found;
      });
      expect(rows.map((r) => r.last_error)).toEqual([
        'the approval was decided before this notification was sent',
        'the approval was decided before this notification was sent',
      ]);
      expect(sink.attemptsFor('alice@example.com')).toBe(1);
    } finally {
      await run.stop();
      await sink.close();
    }
  });
});
