import { CountersignClient } from '@countersign/client';
import { actorSubject, inboxPrefixOf, Streams, Subjects } from '@countersign/contracts';
import { startMailSink } from '@countersign/devinfra';
import { onFileEnd, spawnService, useTestDatabase, waitUntil } from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../services/notifier/test/helpers/notifier.js';
import { FAST_APPROVAL_ENV, httpUrlOf, payment, startSecuredNats, writeMailChannels } from './support.js';

// The accounts generated from the test directory (devinfra nats-auth.ts): each service under
// its own user, billing-job requesting and frank approving under theirs, ops for everything.
const { nats, as } = await startSecuredNats();
const db = await useTestDatabase('nats_permissions');
const mail = await startMailSink();
onFileEnd(mail.stop);

const channels = writeMailChannels('perms');
await spawnService('policy', { env: as('policy') });
const apiToken = `perm-token-${Date.now()}-0123456789abcdef`;
const approval = await spawnService('approval', {
  env: {
    ...as('approval'),
    ...FAST_APPROVAL_ENV,
    DATABASE_URL: db.url,
    HTTP_PORT: '0',
    API_TOKENS: `${apiToken}:alice`,
    REVIEW_LINK_SECRET: 'perm-review-link-secret-0123456789abcdef',
  },
});
await spawnService('notifier', {
  env: testEnv(db, nats.url, {
    ...as('notifier'),
    SMTP_URL: mail.url,
    NOTIFIER_CONFIG: channels,
    LOG_LEVEL: 'info',
  }),
});

/** A client connection as `who`; people and systems each read replies on their own inbox prefix. */
async function client(who: string): Promise<NatsConnection> {
  const nc = await nats.connect(who);
  onFileEnd(() => nc.close());
  return nc;
}
const requester = await client('billing-job');
const approver = await client('frank');
const ops = await client('ops');
const asRequester = new CountersignClient(requester, { timeout: 5_000 });
const asApprover = new CountersignClient(approver, { timeout: 5_000 });

/** A payment billing-job asks for (under its own identity, as its credential proves). */
const byBillingJob = (actionId: string, amount: number) =>
  payment(actionId, amount, { requested_by: 'billing-job' });

/** The error a request fails with, as text. */
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => 'succeeded',
    (err: unknown) => String(err),
  );

/** Subscribes and resolves with the subscription's error, if the server refuses it. */
function refusedSubscription(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve) => {
    nc.subscribe(subject, {
      callback: (err) => {
        if (err) resolve(String(err));
      },
    });
    void nc.flush();
  });
}

describe('least-privilege NATS accounts', () => {
  it('refuses a connection without credentials', async () => {
    expect(await failure(connect({ servers: nats.url, maxReconnectAttempts: 0 }))).toMatch(
      /Authorization Violation/i,
    );
  });

  it('lets every service do its work under its own user', async () => {
    // Requester: the synchronous command and the durable intake, then the SDK's wait.
    const pending = await asRequester.submit(byBillingJob('perm-pay', 1500));
    expect(pending.status).toBe('pending');
    const ack = await jetstream(requester).publish(
      Subjects.requestedBy('billing-job'),
      JSON.stringify(byBillingJob('perm-intake', 10)),
      {
        msgID: 'perm-intake',
      },
    );
    expect(ack.stream).toBe(Streams.requests);
    expect((await asRequester.waitForDecision('perm-intake', { timeout: 10_000 })).status).toBe('approved');
    // Approver: decides; the requester's wait sees it.
    const waiting = asRequester.waitForDecision(pending.action_id, { timeout: 10_000 });
    await asApprover.decide({ action_id: pending.action_id, approved: true, decided_by: 'frank' });
    expect((await waiting).status).toBe('approved');
    // Notifier: consumed both events and mailed the approvers (billing-job, a system, has no
    // email to be told the outcome at).
    await waitUntil(
      () =>
        ['frank@example.test', 'alice@example.test'].every((to) =>
          mail.received.some((m) => m.to.includes(to) && m.subject.includes(pending.action_id)),
        ),
      { message: 'the pending emails' },
    );
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    // The database is dropped with its connections at file end: an idle client's error then is expected.
    pool.on('error', () => {});
    onFileEnd(() => pool.end());
    await waitUntil(
      async () =>
        (
          await pool.query<{ type: string }>('select type from notifier.events where action_id = $1', [
            pending.action_id,
          ])
        ).rows
          .map((r) => r.type)
          .sort()
          .join() === 'approval.decided,approval.pending',
      { message: 'the notifier to have accepted both events' },
    );
    // Ops: the services framework answers (nats micro ls).
    const pong = await ops.request('$SRV.PING.approval', '', { timeout: 2_000 });
    expect(JSON.parse(new TextDecoder().decode(pong.data)).name).toBe('approval');
  });

  it('serves the HTTP event stream under its own user: live events, and a Last-Event-ID replay', async () => {
    const base = await waitUntil(() => httpUrlOf(approval), { message: 'the HTTP address' });
    const stream = async (headers: Record<string, string> = {}) => {
      const abort = new AbortController();
      const res = await fetch(`${base}/api/v1/events`, {
        headers: { authorization: `Bearer ${apiToken}`, ...headers },
        signal: abort.signal,
      });
      expect(res.status).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      const read = async (needle: string) => {
        while (!text.includes(needle)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the stream ended before ${needle}`);
          text += new TextDecoder().decode(value);
        }
        return text;
      };
      return { read, close: () => abort.abort() };
    };
    const live = await stream();
    await live.read(': connected');
    const first = await asRequester.submit(byBillingJob('perm-sse-1', 1500));
    const seen = await live.read(`"action_id":"${first.action_id}"`);
    live.close();
    const lastId = /id: (\d+)\nevent: approval.pending\ndata: [^\n]*"action_id":"perm-sse-1"/.exec(seen)?.[1];
    expect(lastId).toMatch(/^\d+$/);
    await asApprover.decide({ action_id: first.action_id, approved: false, decided_by: 'frank' });
    await asRequester.waitForDecision(first.action_id, { timeout: 10_000 }).catch(() => {});
    const again = await stream({ 'last-event-id': lastId as string });
    expect(await again.read('event: approval.decided')).toContain(`"action_id":"${first.action_id}"`);
    again.close();
  });

  it('refuses a requester every command under another identity, and the bare commands', async () => {
    const pending = await asRequester.submit(byBillingJob('perm-forbidden', 1500));
    for (const subject of [
      'approval.decide',
      'approval.cancel',
      actorSubject('decide', 'frank'),
      actorSubject('cancel', 'dave'),
      actorSubject('submit', 'dave'),
    ]) {
      const body = { action_id: pending.action_id, approved: true, decided_by: 'frank' };
      expect(await failure(requester.request(subject, JSON.stringify(body), { timeout: 2_000 }))).toMatch(
        /Permissions Violation for Publish/,
      );
    }
    // And nothing happened: no vote, still pending.
    const now = await asApprover.get(pending.action_id);
    expect({ status: now.status, votes: now.votes }).toEqual({ status: 'pending', votes: [] });
  });

  it('refuses a requester to pose as a service, forge an event or read replies meant for others', async () => {
    expect(await refusedSubscription(requester, 'approval.submit')).toMatch(
      /Permissions Violation for Subscription/,
    );
    expect(await refusedSubscription(requester, '_INBOX.>')).toMatch(
      /Permissions Violation for Subscription/,
    );
    expect(await refusedSubscription(requester, `${inboxPrefixOf('frank')}.>`)).toMatch(
      /Permissions Violation for Subscription/,
    );
    // A forged decision event never reaches the stream.
    requester.publish(Subjects.decided('perm-forged'), JSON.stringify({ forged: true }));
    await requester.flush();
    const jsm = await jetstreamManager(ops);
    const info = await jsm.streams.info(Streams.events, { subjects_filter: Subjects.decided('perm-forged') });
    expect(info.state.subjects ?? {}).toEqual({});
  });

  it('lets an approver list and read, but never request as the requesting system', async () => {
    expect((await asApprover.list({ limit: 5 })).items.length).toBeGreaterThan(0);
    for (const subject of [actorSubject('submit', 'billing-job'), Subjects.requestedBy('billing-job')]) {
      expect(
        await failure(
          approver.request(subject, JSON.stringify(byBillingJob('perm-approver', 10)), { timeout: 2_000 }),
        ),
      ).toMatch(/Permissions Violation for Publish/);
    }
  });
});
