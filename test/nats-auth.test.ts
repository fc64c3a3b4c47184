/**
 * NATS authentication as the attacker meets it: a real nats-server with the accounts generated
 * from the test directory, the policy and approval services under their own users. Who could
 * claim to be someone else here? Nobody without a password; bob, with his, only as bob: the
 * server refuses every subject that names another identity before any service sees it.
 */
import { actorSubject, inboxPrefixOf, Streams, Subjects } from '@countersign/contracts';
import { startNatsServer } from '@countersign/devinfra';
import {
  directoryOf,
  onFileEnd,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
} from '@countersign/test-fixtures';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, PermissionViolationError } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { FAST_APPROVAL_ENV, payment, runScript } from './support.js';

// Its own server whatever NATS_URL says: this file is about the server's authentication.
const nats = await useTestNats({ own: true });
const db = await useTestDatabase('nats_auth');
await spawnService('policy', { env: { NATS_URL: nats.url } });
await spawnService('approval', { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ...FAST_APPROVAL_ENV } });

async function as(who: string): Promise<NatsConnection> {
  const nc = await nats.connect(who);
  onFileEnd(() => nc.close());
  return nc;
}
const bob = await as('bob');
const frank = await as('frank');
const ops = await as('ops');
const json = (value: unknown) => JSON.stringify(value);
const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data));

/** The error a promise fails with (fails the test if it succeeds). */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

/** The server's refusal of a subscription, delivered to its callback. */
function subscriptionRefusal(nc: NatsConnection, subject: string): Promise<unknown> {
  return new Promise((resolve) => {
    nc.subscribe(subject, {
      callback: (err) => {
        if (err) resolve(err);
      },
    });
    void nc.flush();
  });
}

/** The server's permissions violation for publishing `subject` (a request's RequestError carries it as cause). */
function expectPublishRefused(err: unknown, subject: string): void {
  const violation = err instanceof PermissionViolationError ? err : (err as Error).cause;
  expect(violation).toBeInstanceOf(PermissionViolationError);
  expect(violation).toMatchObject({ operation: 'publish', subject });
}

/** Messages the intake stream holds on `subject`. */
async function intakeCount(subject: string): Promise<number> {
  const jsm = await jetstreamManager(ops);
  const info = await jsm.streams.info(Streams.requests, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe('who may connect', () => {
  it('refuses a connection without credentials', async () => {
    const err = await failure(connect({ servers: nats.url, maxReconnectAttempts: 0, timeout: 3_000 }));
    expect(String(err)).toMatch(/Authorization Violation/i);
  });

  it('refuses a wrong password, and a right password under another user', async () => {
    const wrong = await failure(
      connect({ servers: nats.url, user: 'bob', pass: 'not-bobs-password', maxReconnectAttempts: 0 }),
    );
    expect(String(wrong)).toMatch(/Authorization Violation/i);
    const borrowed = await failure(
      connect({
        servers: nats.url,
        user: 'frank',
        pass: nats.login('bob')?.password ?? '',
        maxReconnectAttempts: 0,
      }),
    );
    expect(String(borrowed)).toMatch(/Authorization Violation/i);
  });
});

describe('bob, authenticated, acting as someone else', () => {
  it('cannot vote as frank, request as carol or cancel as dave: the server refuses the subject', async () => {
    for (const subject of [
      actorSubject('decide', 'frank'),
      Subjects.requestedBy('carol'),
      actorSubject('cancel', 'dave'),
      actorSubject('submit', 'carol'),
      actorSubject('report', 'billing-job'),
      // The bare subjects (whose payload could name anyone) are refused too.
      'approval.decide',
      Subjects.requested,
    ]) {
      const body = { action_id: 'auth-forged', approved: true, decided_by: 'frank', requested_by: 'carol' };
      expectPublishRefused(await failure(bob.request(subject, json(body), { timeout: 2_000 })), subject);
    }
    // A fire-and-forget intake publish never reaches the stream either.
    bob.publish(
      Subjects.requestedBy('carol'),
      json(payment('auth-intake-carol', 10, { requested_by: 'carol' })),
    );
    await bob.flush();
    expect(await intakeCount(Subjects.requestedBy('carol'))).toBe(0);
  });

  it("cannot read frank's replies, nor the services' inbox", async () => {
    for (const subject of [`${inboxPrefixOf('frank')}.>`, '_INBOX.>', 'approval.decide.>']) {
      const err = await subscriptionRefusal(bob, subject);
      expect(err).toBeInstanceOf(PermissionViolationError);
      expect(err).toMatchObject({ operation: 'subscription', subject });
    }
  });

  it('holds one credential to one identity: every other name in the directory is refused', async () => {
    const directory = await directoryOf(TEST_DIRECTORY_FILE);
    const others = directory.principals().filter((p) => p.id !== 'bob');
    expect(others.length).toBeGreaterThan(5);
    for (const other of others) {
      const subject = actorSubject('decide', other.id);
      expectPublishRefused(await failure(bob.request(subject, '{}', { timeout: 2_000 })), subject);
    }
    // Under his own name the server lets the vote through to the service (whatever it answers).
    const own = await failure(
      bob
        .request(actorSubject('decide', 'bob'), json({ action_id: 'auth-none', approved: true }), {
          timeout: 2_000,
        })
        .then(() => {
          throw new Error('answered');
        }),
    );
    expect(own).not.toBeInstanceOf(PermissionViolationError);
    expect((own as Error).cause).not.toBeInstanceOf(PermissionViolationError);
  });

  it('leaves no trace of the forged vote: the approval stays pending without votes', async () => {
    // Needs the approval service on the actor subjects (the intake binding of issue 13).
    const request = payment(`auth-vote-${Date.now()}`, 1500);
    const submitted = decode(
      (await ops.request(actorSubject('submit', 'dave'), json(request), { timeout: 10_000 })).data,
    );
    expect(submitted.status).toBe('pending');
    const subject = actorSubject('decide', 'frank');
    expectPublishRefused(
      await failure(
        bob.request(subject, json({ action_id: request.action_id, approved: true }), { timeout: 2_000 }),
      ),
      subject,
    );
    const now = decode((await frank.request('approval.get', json({ action_id: request.action_id }))).data);
    expect({ status: now.status, votes: now.votes }).toEqual({ status: 'pending', votes: [] });
  });
});

describe('the services with authentication on', () => {
  it('answer an identity on the reads it is allowed, on its own inbox', async () => {
    const decision = decode(
      (
        await frank.request(
          'policy.evaluate',
          json({ ...payment('auth-evaluate', 1500), requested_by: 'dave' }),
          { timeout: 10_000 },
        )
      ).data,
    );
    expect(decision.outcome).toBe('needs_approval');
    const list = decode((await frank.request('approval.list', json({ limit: 1 }), { timeout: 10_000 })).data);
    expect(Array.isArray(list.items)).toBe(true);
  });

  it('refuses to start a service without credentials, naming the variables in one line', async () => {
    const { code, lines } = await runScript('services/policy/src/main.ts', {
      NATS_URL: nats.url,
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      POLICY_BUCKET: '',
    });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string);
    expect(line).toMatchObject({ level: 60, service: 'policy', msg: 'invalid configuration' });
    expect(line.issues).toEqual([
      {
        variable: 'NATS_CREDS',
        message: expect.stringMatching(/NATS_USER and NATS_PASSWORD.*NATS_AUTH=off/),
      },
    ]);
  });

  it('warns at start, with NATS_AUTH=off, that NATS identities are not proven', async () => {
    const open = await startNatsServer();
    onFileEnd(open.stop);
    const policy = await spawnService('policy', {
      env: { NATS_URL: open.url, NATS_AUTH: 'off', POLICY_BUCKET: '' },
    });
    const warning = policy
      .logs()
      .map((l) => JSON.parse(l))
      .find((l) => l.level === 40 && l.NATS_AUTH === 'off');
    expect(warning?.msg).toMatch(/NATS authentication is off: identities on NATS are not proven/);
  });
});
