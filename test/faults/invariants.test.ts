/**
 * The invariant checker itself: it passes a healthy system and names every broken promise in
 * a tampered one (so a fault run that passes means something).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Subjects } from '@countersign/contracts';
import { REPO_ROOT, type ReceivedMail } from '@countersign/devinfra';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { call, eventCounts, payment, startSystem } from '../support.js';
import { checkInvariants, type Expectation, INTERRUPTED_SEND, loadViolations } from './invariants.js';

const sys = await startSystem('invariants');
// The notifier's tables, without a notifier: the test writes its deliveries by hand.
await sys.pool.query(
  `create schema notifier; ${readFileSync(join(REPO_ROOT, 'services/notifier/migrations/000001_deliveries.sql'), 'utf8')}`,
);

const mail = (actionId: string, type: string, to: string): ReceivedMail => ({
  from: 'countersign@example.com',
  to: [to],
  subject: actionId,
  text: '',
  html: '',
  headers: { 'x-countersign-action-id': actionId, 'x-countersign-event': type },
  raw: '',
});

describe('invariant checker', () => {
  it('passes a healthy run and names each broken promise of a tampered one', async () => {
    const auto = await call(sys.nc, 'submit', payment('inv-auto', 10));
    const voted = await call(sys.nc, 'submit', payment('inv-voted', 1500));
    await call(sys.nc, 'decide', { action_id: voted.action_id, approved: true, decided_by: 'frank' });
    await waitUntil(async () => Object.keys(await eventCounts(sys.nc)).length === 2, {
      message: 'both decided events',
    });
    const accepted = new Map<string, Expectation>([
      [auto.action_id, { statuses: ['approved'] }],
      [voted.action_id, { statuses: ['approved'] }],
    ]);
    const healthy = await checkInvariants({ pool: sys.pool, nc: sys.nc, accepted });
    expect(healthy.violations).toEqual([]);
    expect(healthy).toMatchObject({
      requests: 2,
      rows: 2,
      terminal: 2,
      decided_events: 2,
      pending_events: 1,
    });

    // Tampering: a second decided event; a row approved without votes and a forged audit
    // event; an accepted request that never got a row; an outcome other than acknowledged.
    await sys.js.publish(Subjects.decided(auto.action_id), JSON.stringify({ forged: true }));
    const now = new Date().toISOString();
    // In one transaction: a terminal status needs its audit event by commit (the trigger), and
    // every new audit row a key id (the forger names one; its hash is no HMAC of anything).
    const forger = await sys.pool.connect();
    try {
      await forger.query('begin');
      await forger.query(
        `insert into approval.approvals (action_id, action_type, description, requested_by, request_hash, status,
           policy, required_approvals, created_at, expires_at, decided_at, decided_by)
         values ('inv-forged', 'payment', 'x', 'dave', 'h', 'approved', '{"outcome":"needs_approval"}', 1, $1, $1, $1, 'frank')`,
        [now],
      );
      await forger.query(
        `insert into approval.audit_events (action_id, seq, event, actor, data, at, prev_hash, hash, key_id)
         values ('inv-forged', 1, 'approved', 'frank', '{}', $1, $2, 'not-a-hash', 'ak1-forged')`,
        [now, '0'.repeat(64)],
      );
      await forger.query('commit');
    } finally {
      forger.release();
    }
    // Notifications: one email delivered twice, one delivery still waiting.
    const eventId = 'inv-voted.pending';
    await sys.pool.query(
      `insert into notifier.events (id, type, action_id, body) values ($1, 'approval.pending', $2, '{}')`,
      [eventId, voted.action_id],
    );
    await sys.pool.query(
      `insert into notifier.deliveries (event_id, channel, kind, target, status)
       values ($1, 'mail', 'email', 'alice@example.com', 'delivered'), ($1, 'hook', 'webhook', 'endpoint', 'scheduled')`,
      [eventId],
    );
    const tampered = await checkInvariants({
      pool: sys.pool,
      nc: sys.nc,
      accepted: new Map([
        ...accepted,
        [voted.action_id, { statuses: ['rejected'] }],
        ['inv-forged', {}],
        ['inv-never', {}],
      ]),
      notifications: {
        mails: [0, 1].map(() => mail(voted.action_id, 'approval.pending', 'alice@example.com')),
        webhookIds: [],
      },
    });
    const says = (fragment: string) => tampered.violations.some((v) => v.includes(fragment));
    expect(says(`${auto.action_id}: 2 approval.decided events`)).toBe(true);
    expect(says('inv-forged: approved by frank with 0/1 approvals')).toBe(true);
    expect(says('inv-forged: approved by frank, who has no approving vote')).toBe(true);
    expect(says('inv-forged: audit chain broken at seq 1')).toBe(true);
    expect(says('inv-forged: approved but no approval.decided event')).toBe(true);
    expect(says('inv-never: accepted but no approval row')).toBe(true);
    expect(says(`${voted.action_id}: ended approved, acknowledged as rejected`)).toBe(true);
    expect(
      says(`${voted.action_id}: approval.pending email to alice@example.com delivered, arrived 2 times`),
    ).toBe(true);
    expect(says('still scheduled')).toBe(true);
    expect(says(`${auto.action_id}: decided event does not parse`)).toBe(true);
    // No notifier ran: the checker sees events that never reached one.
    expect(says(`${auto.action_id}: approval.decided event never reached the notifier`)).toBe(true);
    expect(tampered.lost.sort()).toEqual([auto.action_id, 'inv-forged', 'inv-never', voted.action_id].sort());
    expect(tampered.duplicated.sort()).toEqual([auto.action_id, voted.action_id].sort());
  });

  it('accepts a dead delivery only when its attempt log says the send was interrupted', async () => {
    const approval = await call(sys.nc, 'submit', payment('inv-dead', 10));
    const id = approval.action_id;
    const eventId = `${id}.decided`;
    await sys.pool.query(
      `insert into notifier.events (id, type, action_id, body) values ($1, 'approval.decided', $2, '{}')`,
      [eventId, id],
    );
    /** One delivery to `target` with its attempts (outcome, error), ending in `status`. */
    const delivery = async (
      kind: string,
      target: string,
      status: string,
      attempts: [outcome: string, error: string | null][],
    ) => {
      const { rows } = await sys.pool.query(
        `insert into notifier.deliveries (event_id, channel, kind, target, status, attempts)
         values ($1, $2, $2, $3, $4, $5) returning id`,
        [eventId, kind, target, status, attempts.length],
      );
      for (const [i, [outcome, error]] of attempts.entries()) {
        await sys.pool.query(
          `insert into notifier.attempts (delivery_id, attempt, started_at, outcome, error)
           values ($1, $2, now(), $3, $4)`,
          [rows[0].id, i + 1, outcome, error],
        );
      }
    };
    const notResent = 'outcome unknown, not resent to avoid a duplicate (replay to resend)';
    // The documented reason, both ways it is recorded: the process died or lost its database
    // mid-send (found at lease expiry), or the SMTP connection was cut after the hand-over.
    await delivery('email', 'killed@example.com', 'dead', [
      ['interrupted', `attempt interrupted (the process died or lost its database mid-send); ${notResent}`],
    ]);
    await delivery('email', 'cut@example.com', 'dead', [
      ['unknown', `${notResent}: no reply after the message was sent (socket closed)`],
    ]);
    // Notifications lost: retries exhausted (a receiver that refused too long), a retried
    // interrupted webhook that gave up, a deadline, a channel that threw, a disabled channel.
    await delivery('webhook', 'refused-too-long', 'dead', [
      ['retry', 'HTTP 503'],
      ['retry', 'gave up after 2 attempts: HTTP 503'],
    ]);
    await delivery('webhook', 'interrupted-gave-up', 'dead', [
      [
        'interrupted',
        'gave up after 1 attempts: attempt interrupted (the process died or lost its database mid-send)',
      ],
    ]);
    await delivery('email', 'deadline@example.com', 'dead', [
      ['unknown', `${notResent}: attempt did not finish before its deadline`],
    ]);
    await delivery('email', 'threw@example.com', 'dead', [
      ['unknown', `${notResent}: internal error in the channel`],
    ]);
    await delivery('slack', 'disabled', 'dead', []);
    // Refused once, then delivered: the retry path, counted.
    await delivery('webhook', 'endpoint', 'delivered', [
      ['retry', 'HTTP 503'],
      ['delivered', null],
    ]);

    const report = await checkInvariants({
      pool: sys.pool,
      nc: sys.nc,
      accepted: new Map([[id, { statuses: ['approved'] }]]),
      notifications: { mails: [mail(id, 'approval.decided', 'cut@example.com')], webhookIds: [eventId] },
    });
    const deadLettered = report.violations.filter((v) => v.includes('dead-lettered'));
    expect(deadLettered.every((v) => v.includes(`not "${INTERRUPTED_SEND}"`))).toBe(true);
    const named = (target: string) => deadLettered.some((v) => v.includes(` to ${target} dead-lettered`));
    expect(named('killed@example.com')).toBe(false);
    expect(named('cut@example.com')).toBe(false);
    for (const target of [
      'refused-too-long',
      'interrupted-gave-up',
      'deadline@example.com',
      'threw@example.com',
      'disabled',
    ]) {
      expect(named(target), target).toBe(true);
    }
    expect(deadLettered).toHaveLength(5);
    expect(deadLettered).toContain(
      `${id}: approval.decided slack to disabled dead-lettered, not "${INTERRUPTED_SEND}": no attempt recorded`,
    );
    expect(report.lost).toEqual([id]);
    expect(report.notifications).toMatchObject({ deliveries: 8, delivered: 1, dead: 7, retried: 1 });
  });

  it('counts every answer a well-behaved client should never get as a violation', () => {
    expect(loadViolations({ unexpected: {} })).toEqual([]);
    expect(loadViolations({ unexpected: { internal: 1, forbidden: 2 } })).toEqual([
      'the system answered internal 1 time(s) to the load',
      'the system answered forbidden 2 time(s) to the load',
    ]);
  });
});
