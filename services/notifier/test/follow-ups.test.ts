/**
 * Reminders and escalations on the email channel, with the real notifier, nats-server, database
 * and an SMTP sink: a reminder goes only to approvers whose vote is not in (cast by them or by
 * their delegate), an escalation asks everyone it added as well.
 */
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followUpEvent, makeApproval } from './helpers/approvals.js';
import { startTestNotifier, testEnv, writeDirectory } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { mailAbout, startSmtpSink } from './helpers/smtp-sink.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_follow_ups');

const directoryFile = writeDirectory({
  alice: { email: 'alice@example.com', roles: ['finance', 'ops'] },
  frank: { email: 'frank@example.com', roles: ['finance'] },
  bob: { email: 'bob@example.com', roles: ['ops'] },
  carol: { email: 'carol@example.com', roles: ['admin'] },
  grace: { email: 'grace@example.com', roles: ['finance'] },
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

describe('follow-ups by email', () => {
  it('reminds only the approvers who have not voted, personally', async () => {
    const sink = await startSmtpSink();
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.url }),
      {
        channels: [emailChannel],
      },
    );
    try {
      const at = new Date().toISOString();
      const approval = makeApproval({
        context: { amount: 20_000 },
        requested_by: 'dave',
        required_approvals: 3,
        votes: [
          { voter: 'frank', approved: true, reason: null, at },
          // grace's vote, cast by her delegate bob: grace is not reminded either
          { voter: 'bob', approved: true, reason: null, at, on_behalf_of: 'grace' },
        ],
      });
      await events.publish(followUpEvent(approval, 'approval.reminder'));
      const mails = await waitUntil(() => {
        const found = sink.accepted().filter(mailAbout(approval.action_id));
        return found.length >= 1 && found;
      });
      // Give any wrongly planned mail the time to arrive before checking there is none.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(
        sink
          .accepted()
          .filter(mailAbout(approval.action_id))
          .flatMap((m) => m.to),
      ).toEqual(['alice@example.com']);
      expect(mails[0]?.email.subject).toMatch(/^Reminder: approval still needed/);
    } finally {
      await run.stop();
      await sink.close();
    }
  });

  it('asks the escalation’s roles and people too', async () => {
    const sink = await startSmtpSink();
    const run = await startTestNotifier(
      testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile, SMTP_URL: sink.url }),
      {
        channels: [emailChannel],
      },
    );
    try {
      const approval = makeApproval({
        context: { amount: 1500 },
        requested_by: 'dave',
        escalation: { at: new Date().toISOString(), roles: ['ops'], people: ['carol', 'dave'] },
      });
      await events.publish(followUpEvent(approval, 'approval.escalated'));
      const expected = [
        'alice@example.com',
        'bob@example.com',
        'carol@example.com',
        'frank@example.com',
        'grace@example.com',
      ];
      const mails = await waitUntil(() => {
        const found = sink.accepted().filter(mailAbout(approval.action_id));
        return found.length >= expected.length && found;
      });
      // Never the requester, even when the escalation names him.
      expect(mails.flatMap((m) => m.to).sort()).toEqual(expected);
      expect(mails.every((m) => m.email.subject?.startsWith('Escalated: approval needed'))).toBe(true);
    } finally {
      await run.stop();
      await sink.close();
    }
  });
});
