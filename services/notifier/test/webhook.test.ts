import { Subjects, WebhookBody } from '@countersign/contracts';
import { verifyReviewToken } from '@countersign/runtime';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { decidedEvent, makeApproval, pendingEvent } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import {
  REVIEW_SECRET,
  startTestNotifier,
  type TestNotifier,
  testEnv,
  WEBHOOK_SECRET,
  writeDirectory,
} from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { type ReceivedRequest, type Receiver, type Reply, startReceiver } from './helpers/receiver.js';
import { startSmtpSink } from './helpers/smtp-sink.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_webhook');

let nc: NatsConnection;
let events: EventPublisher;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
});
// Each test runs its own notifier: stop it before the next starts (they share the durable consumer).
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await nc.close();
});

let channelCounter = 0;
/** A receiver and a notifier with one webhook channel pointing at it. */
async function webhookSetup(
  reply: (n: number) => Reply,
  channel: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<{ receiver: Receiver; run: TestNotifier; name: string }> {
  const receiver = await startReceiver(reply);
  channelCounter += 1;
  const name = `hook${channelCounter}`;
  const run = await startTestNotifier(testEnv(db, nats.url, env), {
    channels: [{ name, type: 'webhook', url: receiver.url, secret_env: 'WEBHOOK_SECRET', ...channel }],
  });
  cleanups.push(run.stop, receiver.close);
  return { receiver, run, name };
}

function headersOf(request: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]));
}

async function settled(run: TestNotifier, actionId: string, count = 1) {
  return waitUntil(async () => {
    const rows = await deliveriesOf(run.pool, actionId);
    return (
      rows.length === count && rows.every((r) => r.status === 'delivered' || r.status === 'dead') && rows
    );
  });
}

async function cli(run: TestNotifier, ...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await runCli(args, { pool: run.pool, out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

describe('webhook channel', () => {
  it('delivers decided events signed so that the Standard Webhooks verifier accepts them', async () => {
    const { receiver, run } = await webhookSetup(() => ({ status: 204 }), {
      filter: { events: ['approval.decided'] },
    });
    const approval = makeApproval();
    const decided = decidedEvent(approval, 'rejected', 'frank');
    await events.publish(pendingEvent(approval));
    await events.publish(decided);
    const [row] = await settled(run, approval.action_id);
    expect(row?.event_type).toBe('approval.decided');
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0] as ReceivedRequest;
    const payload = new Webhook(WEBHOOK_SECRET).verify(request.body, headersOf(request));
    const body = WebhookBody.parse(payload);
    expect(body.type).toBe('approval.decided');
    expect(body.data.status).toBe('rejected');
    expect(body.data.action_id).toBe(approval.action_id);
    expect(request.headers['webhook-id']).toBe(decided.id);
    expect(request.headers['content-type']).toBe('application/json');
    // The verifier is real: a changed body fails it.
    expect(() =>
      new Webhook(WEBHOOK_SECRET).verify(request.body.replace('rejected', 'approved'), headersOf(request)),
    ).toThrow();
  });

  it('retries a receiver that fails twice and then delivers once, with the same webhook-id', async () => {
    const { receiver, run } = await webhookSetup((n) =>
      n <= 2 ? { status: 500, body: 'boom' } : { status: 200 },
    );
    const approval = makeApproval();
    const event = pendingEvent(approval);
    await events.publish(event);
    const [row] = await settled(run, approval.action_id);
    expect(row?.status).toBe('delivered');
    expect(row?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
      ['retry', 500],
      ['retry', 500],
      ['delivered', 200],
    ]);
    expect(receiver.requests).toHaveLength(3);
    for (const request of receiver.requests) {
      expect(request.headers['webhook-id']).toBe(event.id);
      expect(() => new Webhook(WEBHOOK_SECRET).verify(request.body, headersOf(request))).not.toThrow();
    }
  });

  it('dead-letters a receiver that always fails, with every attempt recorded, and replays it', async () => {
    let healthy = false;
    const { receiver, run, name } = await webhookSetup(() => (healthy ? { status: 200 } : { status: 503 }));
    const approval = makeApproval();
    const event = pendingEvent(approval);
    await events.publish(event);
    const [dead] = await settled(run, approval.action_id);
    expect(dead?.status).toBe('dead');
    expect(dead?.attempts).toBe(3);
    expect(dead?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
      ['retry', 503],
      ['retry', 503],
      ['retry', 503],
    ]);
    expect(dead?.last_error).toContain('gave up after 3 attempts');
    expect(receiver.requests).toHaveLength(3);

    const listed = await cli(run, 'list', '--channel', name, '--json');
    expect(listed.code).toBe(0);
    expect(listed.out.map((l) => JSON.parse(l).id)).toContain(dead?.id);
    const shown = await cli(run, 'show', String(dead?.id));
    expect(JSON.parse(shown.out.join('\n')).attempt_log).toHaveLength(3);

    healthy = true;
    expect((await cli(run, 'replay', String(dead?.id))).code).toBe(0);
    const [replayed] = await waitUntil(async () => {
      const rows = await deliveriesOf(run.pool, approval.action_id);
      return rows[0]?.status === 'delivered' && rows;
    });
    expect(replayed?.attempt_log.map((a) => a.outcome)).toEqual(['retry', 'retry', 'retry', 'delivered']);
    expect(receiver.requests).toHaveLength(4);
    expect(receiver.requests[3]?.headers['webhook-id']).toBe(event.id);
    // Replaying something that is not dead is refused.
    expect((await cli(run, 'replay', String(dead?.id))).code).toBe(1);
  });

  it('honours Retry-After on 429', async () => {
    const { receiver, run } = await webhookSetup((n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 },
    );
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    const [row] = await settled(run, approval.action_id);
    expect(row?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
      ['retry', 429],
      ['delivered', 204],
    ]);
    const [first, second] = receiver.requests as [ReceivedRequest, ReceivedRequest];
    // The schedule says 50 ms; the receiver asked for a second.
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
  });

  it('disables the channel on 410 Gone; enable + replay sends again', async () => {
    let gone = true;
    const { receiver, run, name } = await webhookSetup(() => (gone ? { status: 410 } : { status: 200 }));
    const first = makeApproval();
    await events.publish(pendingEvent(first));
    const [dead] = await settled(run, first.action_id);
    expect(dead?.status).toBe('dead');
    expect(dead?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([['gone', 410]]);
    expect((await cli(run, 'disabled')).out.join('\n')).toContain(name);

    const second = makeApproval();
    await events.publish(pendingEvent(second));
    const [skipped] = await settled(run, second.action_id);
    expect(skipped?.status).toBe('dead');
    expect(skipped?.last_error).toContain('channel disabled');
    expect(skipped?.attempt_log).toEqual([]);
    expect(receiver.requests).toHaveLength(1);

    gone = false;
    expect((await cli(run, 'enable', name)).code).toBe(0);
    expect((await cli(run, 'replay', String(skipped?.id))).code).toBe(0);
    await waitUntil(async () => (await deliveriesOf(run.pool, second.action_id))[0]?.status === 'delivered');
    expect(receiver.requests).toHaveLength(2);
  });

  it('does not follow a redirect', async () => {
    const target = await startReceiver(() => ({ status: 200 }));
    cleanups.push(target.close);
    const { receiver, run } = await webhookSetup(() => ({ status: 307, headers: { location: target.url } }));
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    const [row] = await settled(run, approval.action_id);
    expect(row?.status).toBe('dead');
    expect(row?.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([['failed', 307]]);
    expect(row?.last_error).toContain('redirects are not followed');
    expect(receiver.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
  });

  it('refuses private addresses, by IP or by DNS name, unless allowed', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    cleanups.push(receiver.close);
    const run = await startTestNotifier(testEnv(db, nats.url, { WEBHOOK_ALLOW_PRIVATE: 'false' }), {
      channels: [
        { name: 'private-ip', type: 'webhook', url: receiver.url, secret_env: 'WEBHOOK_SECRET' },
        {
          name: 'private-name',
          type: 'webhook',
          url: `http://localhost:${receiver.port}/hook`,
          secret_env: 'WEBHOOK_SECRET',
        },
        {
          name: 'metadata',
          type: 'webhook',
          url: 'http://169.254.169.254/latest/meta-data',
          secret_env: 'WEBHOOK_SECRET',
        },
      ],
    });
    cleanups.push(run.stop);
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    const rows = await settled(run, approval.action_id, 3);
    const errors = Object.fromEntries(rows.map((r) => [r.channel, r.last_error]));
    expect(rows.every((r) => r.status === 'dead' && r.attempts === 1)).toBe(true);
    expect(errors['private-ip']).toContain('refused: address 127.0.0.1 is loopback');
    expect(errors['private-name']).toMatch(
      /refused: localhost resolves to (127\.0\.0\.1|::1), which is loopback/,
    );
    expect(errors.metadata).toContain('refused: address 169.254.169.254 is link-local');
    expect(receiver.requests).toHaveLength(0);
  });

  it('keeps an invalid event and goes on with the next one', async () => {
    const { receiver, run } = await webhookSetup(() => ({ status: 200 }));
    await events.publishRaw(Subjects.pending('garbage'), '{"not": "an event"}');
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    await settled(run, approval.action_id);
    expect(receiver.requests).toHaveLength(1);
    const invalid = await run.pool.query('select subject, error from notifier.invalid_events');
    expect(invalid.rows).toContainEqual({
      subject: 'approval.pending.garbage',
      error: expect.stringContaining('not an ApprovalEvent'),
    });
  });

  it('delivers an event written before the version field; keeps one of an unknown version as invalid', async () => {
    const { receiver, run } = await webhookSetup(() => ({ status: 200 }));
    // A producer older than the field (a rolling upgrade) wrote no version: it reads as version 1.
    const legacy = makeApproval();
    const { version: _version, ...unversioned } = pendingEvent(legacy);
    await events.publishRaw(Subjects.pending(legacy.action_id), JSON.stringify(unversioned));
    const newer = makeApproval();
    await events.publishRaw(
      Subjects.pending(newer.action_id),
      JSON.stringify({ ...pendingEvent(newer), version: 2 }),
    );
    await settled(run, legacy.action_id);
    expect(receiver.requests).toHaveLength(1);
    expect(JSON.parse(receiver.requests[0]?.body ?? '').data.action_id).toBe(legacy.action_id);
    const invalid = await waitUntil(async () => {
      const rows = await run.pool.query('select error from notifier.invalid_events where subject = $1', [
        Subjects.pending(newer.action_id),
      ]);
      return rows.rows[0] as { error: string } | undefined;
    });
    expect(invalid.error).toMatch(/unsupported approval event version 2/);
    expect(await deliveriesOf(run.pool, newer.action_id)).toEqual([]);
  });

  it('records events that arrive together in one transaction; one the database refuses holds no other back', async () => {
    // Published while no notifier runs, so they reach it together, as one batch.
    const approvals = Array.from({ length: 20 }, () => makeApproval());
    // JSON allows U+0000, PostgreSQL's jsonb does not: the batch's insert is refused.
    const poison = makeApproval({ context: { note: 'a \u0000 inside' } });
    for (const approval of [...approvals.slice(0, 10), poison, ...approvals.slice(10)]) {
      await events.publish(pendingEvent(approval));
    }
    const { receiver, run } = await webhookSetup(() => ({ status: 200 }));
    for (const approval of approvals) await settled(run, approval.action_id);
    expect(receiver.requests).toHaveLength(20);
    expect(await deliveriesOf(run.pool, poison.action_id)).toHaveLength(0);
  });
});

describe('slack channel', () => {
  const slackDirectory = writeDirectory({
    alice: { roles: ['finance'], slack_user: 'U0ALICE1' },
    frank: { roles: ['finance'] },
    dave: { roles: ['finance'], slack_user: 'U0DAVE01' },
  });
  const slackRun = async (channel: Record<string, unknown> = {}) => {
    const receiver = await startReceiver(() => ({ status: 200, body: 'ok' }));
    cleanups.push(receiver.close);
    const run = await startTestNotifier(
      testEnv(db, nats.url, { SLACK_URL: receiver.url, DIRECTORY_FILE: slackDirectory }),
      { channels: [{ name: 'finance', type: 'slack', url_env: 'SLACK_URL', route: 'notify', ...channel }] },
    );
    cleanups.push(run.stop);
    return { receiver, run };
  };
  type SlackMessage = { text: string; blocks: Record<string, unknown>[] };

  it('names the approvers from the directory and sends no review buttons unless configured', async () => {
    const { receiver, run } = await slackRun();
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    await settled(run, approval.action_id);
    const message = JSON.parse((receiver.requests[0] as ReceivedRequest).body) as SlackMessage;
    // A button is a personal review link anyone in the Slack channel could open: none by default.
    expect(message.blocks.find((b) => b.type === 'actions')).toBeUndefined();
    expect(JSON.stringify(message)).not.toContain('token=');
    // Mentions come from the directory's slack_user; dave requested, so he is not asked.
    expect(JSON.stringify(message.blocks)).toContain('*Asked to approve*\\n<@U0ALICE1>, frank');
    expect(JSON.stringify(message.blocks)).not.toContain('U0DAVE01');
  });

  it('posts a Block Kit message with a Review button per approver when review_buttons is on', async () => {
    const { receiver, run } = await slackRun({ review_buttons: true });
    const approval = makeApproval({ description: 'Pay <!channel> & friends' });
    const ignored = makeApproval({ policy: { notify: ['security'] } });
    await events.publish(pendingEvent(ignored));
    await events.publish(pendingEvent(approval));
    await settled(run, approval.action_id);
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0] as ReceivedRequest;
    expect(request.headers['webhook-signature']).toBeUndefined();
    const message = JSON.parse(request.body) as SlackMessage;
    expect(message.text).toContain(approval.action_id);
    expect(JSON.stringify(message.blocks)).toContain('Pay &lt;!channel&gt; &amp; friends');
    const actions = message.blocks.find((b) => b.type === 'actions') as {
      elements: { text: { text: string }; url: string }[];
    };
    expect(actions.elements.map((e) => e.text.text)).toEqual(['Review as alice', 'Review as frank']);
    for (const [i, who] of ['alice', 'frank'].entries()) {
      const url = new URL(actions.elements[i]?.url ?? '');
      expect(
        verifyReviewToken(REVIEW_SECRET, url.searchParams.get('token') ?? '', approval.action_id).v,
      ).toBe(who);
    }
    // Routed by the policy's notify list: the security-only approval went nowhere.
    expect(await deliveriesOf(run.pool, ignored.action_id)).toEqual([]);
  });
});

describe('isolation', () => {
  it('a hanging webhook does not delay email or another webhook', async () => {
    const sink = await startSmtpSink();
    const hanging = await startReceiver(() => 'hang');
    const healthy = await startReceiver(() => ({ status: 200 }));
    cleanups.push(sink.close, healthy.close);
    // The stuck receiver holds its requests far longer than the test runs: whatever the
    // machine's speed, the others can only have been delivered while those attempts were open.
    const run = await startTestNotifier(
      testEnv(db, nats.url, {
        SMTP_URL: sink.url,
        DIRECTORY_FILE: writeDirectory({ alice: { email: 'alice@example.com', roles: ['finance'] } }),
        WEBHOOK_TIMEOUT: '120s',
        NOTIFIER_CHANNEL_CONCURRENCY: '2',
      }),
      {
        channels: [
          { name: 'stuck', type: 'webhook', url: hanging.url, secret_env: 'WEBHOOK_SECRET' },
          { name: 'fine', type: 'webhook', url: healthy.url, secret_env: 'WEBHOOK_SECRET' },
          { name: 'mail', type: 'email', from: 'countersign@example.com' },
        ],
      },
    );
    // Cleanups run last first: the hanging receiver closes (ending its attempts), then the
    // notifier stops, which waits for its attempts in flight.
    cleanups.push(run.stop, hanging.close);
    const approvals = Array.from({ length: 6 }, () => makeApproval());
    for (const approval of approvals) await events.publish(pendingEvent(approval));
    await waitUntil(
      async () => {
        for (const approval of approvals) {
          const rows = await deliveriesOf(run.pool, approval.action_id);
          const others = rows.filter((r) => r.channel !== 'stuck');
          if (others.length !== 2 || others.some((r) => r.status !== 'delivered')) return false;
        }
        return true;
      },
      { message: 'the email and the healthy webhook of every approval' },
    );
    // Everything else was delivered while the stuck receiver still holds its first attempts.
    expect(healthy.requests).toHaveLength(6);
    expect(sink.accepted()).toHaveLength(6);
    const stuck = await run.pool.query(
      `select status, count(*)::int as n from notifier.deliveries where channel = 'stuck' group by status`,
    );
    expect(stuck.rows).toEqual(expect.arrayContaining([{ status: 'in_progress', n: 2 }]));
    expect(hanging.requests.length).toBe(2);
  });
});
