/**
 * The requester SDK against the real services: policy and approval as child processes, a real
 * nats-server and PostgreSQL.
 */
import {
  AlreadyDecidedError,
  ApprovalCancelledError,
  ApprovalExpiredError,
  ApprovalRejectedError,
  CountersignClient,
  ForbiddenError,
  IdempotencyConflictError,
  InvalidRequestError,
  listPaused,
  NotFoundError,
  pause,
  requestDeploymentApproval,
  requireApproval,
  resume,
  WaitTimeoutError,
} from '@countersign/client';
import { CountersignError, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { payment, startSystem } from './support.js';

const system = await startSystem('sdk');
// The SDK is handed a connection; a requester's would reconnect forever like this one.
const nc = await system.nats.connect('ops', { maxReconnectAttempts: -1, reconnectTimeWait: 200 });
afterAll(() => nc.drain());
const client = new CountersignClient(nc, { timeout: 10_000 });

let n = 0;
const id = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++n}`;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('request and wait', () => {
  it('resolves at once for an action the policy auto-approves', async () => {
    const approval = await client.requestAndWait({
      action_type: 'send_report',
      description: 'Weekly report',
      requested_by: 'reporter',
    });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'policy' });
    expect(approval.action_id).toMatch(/^send_report-/);
  });

  it('sees a decision made before the wait started', async () => {
    const { action_id } = await client.request(payment(id('before'), 1500));
    await waitUntil(async () => (await client.get(action_id).catch(() => undefined))?.status === 'pending');
    await client.decide({ action_id, approved: true, decided_by: 'frank', reason: 'ok' });
    const approval = await client.waitForDecision(action_id, { timeout: 10_000 });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'frank' });
  });

  it('is woken by a decision made after the wait started', async () => {
    const { action_id } = await client.request(payment(id('after'), 1500));
    const waiting = client.waitForDecision(action_id, { timeout: 20_000 });
    await waitUntil(async () => (await client.get(action_id).catch(() => undefined))?.status === 'pending');
    await client.decide({ action_id, approved: true, decided_by: 'alice' });
    expect((await waiting).decided_by).toBe('alice');
  });

  it('rejects with the typed outcome errors', async () => {
    const rejected = await client.request(payment(id('rej'), 1500));
    const waitRejected = client.waitForDecision(rejected.action_id, { timeout: 20_000 });
    await waitUntil(async () => (await client.get(rejected.action_id).catch(() => undefined))?.status);
    await client.decide({
      action_id: rejected.action_id,
      approved: false,
      decided_by: 'frank',
      reason: 'no',
    });
    const err = await rejection(waitRejected);
    expect(err).toBeInstanceOf(ApprovalRejectedError);
    expect((err as ApprovalRejectedError).approval.decision_reason).toBe('no');

    const cancelled = await client.request(payment(id('can'), 1500));
    await waitUntil(async () => (await client.get(cancelled.action_id).catch(() => undefined))?.status);
    await client.cancel({ action_id: cancelled.action_id, cancelled_by: 'dave' });
    expect(await rejection(client.waitForDecision(cancelled.action_id))).toBeInstanceOf(
      ApprovalCancelledError,
    );

    const expiring = await client.request(payment(id('exp'), 1500, { timeout_seconds: 1 }));
    expect(await rejection(client.waitForDecision(expiring.action_id, { timeout: 20_000 }))).toBeInstanceOf(
      ApprovalExpiredError,
    );

    const denied = await rejection(client.requestAndWait(payment(id('deny'), 2_000_000)));
    expect(denied).toBeInstanceOf(ApprovalRejectedError);
    expect((denied as ApprovalRejectedError).approval.decided_by).toBe('policy');
  });

  it('maps command errors to typed errors', async () => {
    const pending = await client.submit(payment(id('cmd'), 1500));
    expect(
      await rejection(client.decide({ action_id: pending.action_id, approved: true, decided_by: 'dave' })),
    ).toBeInstanceOf(ForbiddenError);
    await client.decide({ action_id: pending.action_id, approved: true, decided_by: 'frank' });
    const again = await rejection(
      client.decide({ action_id: pending.action_id, approved: true, decided_by: 'alice' }),
    );
    expect(again).toBeInstanceOf(AlreadyDecidedError);
    expect((again as AlreadyDecidedError).details).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(await rejection(client.get(id('missing')))).toBeInstanceOf(NotFoundError);
    expect(
      await rejection(client.submit({ ...payment(pending.action_id, 1500), description: 'changed' })),
    ).toBeInstanceOf(IdempotencyConflictError);
    // Refused locally, before anything is sent, with the field named.
    const invalid = await rejection(
      client.request({ action_type: 'payment', description: '', requested_by: 'dave' }),
    );
    expect(invalid).toBeInstanceOf(InvalidRequestError);
    expect(invalid.message).toContain('description');
  });

  it('lets the caller stop waiting without touching the approval', async () => {
    const { action_id } = await client.request(payment(id('slow'), 1500));
    const err = await rejection(client.waitForDecision(action_id, { timeout: 300 }));
    expect(err).toBeInstanceOf(WaitTimeoutError);
    const approval = await waitUntil(() => client.get(action_id).catch(() => undefined));
    expect(approval.status).toBe('pending');

    const controller = new AbortController();
    const aborted = client.waitForDecision(action_id, { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    expect((await rejection(aborted)).message).toBe('shutting down');
    expect((await client.get(action_id)).status).toBe('pending');
  });

  it('reads a decided event written before the version field, and refuses one of an unknown version', async () => {
    // Events stored by a producer older than the field (a rolling upgrade) still end a wait.
    const approved = await client.requestAndWait({
      action_type: 'send_report',
      description: 'Weekly report',
      requested_by: 'reporter',
    });
    // The same decision (its receipt attests its own action_id) stored again in the old envelope:
    // the stream's last message on the subject, what a waiter reads first.
    const unversioned = {
      id: `${approved.action_id}.decided`,
      type: 'approval.decided',
      occurred_at: approved.decided_at,
      data: { ...approved, decision_reason: 'stored before the version field' },
    };
    await jetstream(nc).publish(Subjects.decided(approved.action_id), JSON.stringify(unversioned));
    expect(await client.waitForOutcome(approved.action_id, { timeout: 10_000 })).toMatchObject({
      action_id: approved.action_id,
      status: 'approved',
      decision_reason: 'stored before the version field',
    });

    // A newer envelope this client cannot read is an error naming the field, not an endless wait.
    const newer = id('newer');
    const waitNewer = client.waitForOutcome(newer, { timeout: 10_000 });
    await nc.flush();
    nc.publish(
      Subjects.decided(newer),
      JSON.stringify({
        ...unversioned,
        data: { ...approved, action_id: newer },
        version: 2,
        id: `${newer}.decided`,
      }),
    );
    const err = await rejection(waitNewer);
    expect(err).toBeInstanceOf(CountersignError);
    expect(err.message).toMatch(/unsupported approval event version 2/);
    expect((err as CountersignError).details?.fields).toEqual([
      { path: 'version', message: expect.stringContaining('unsupported version 2') },
    ]);
  });

  it('checks the policy without creating an approval', async () => {
    const action_id = id('check');
    const decision = await client.checkPolicy(payment(action_id, 1500));
    expect(decision).toMatchObject({ outcome: 'needs_approval', approver_roles: ['finance'] });
    expect(await rejection(client.get(action_id))).toBeInstanceOf(NotFoundError);
  });
});

describe('requireApproval', () => {
  it('runs the function once approved and reports the execution', async () => {
    const calls: string[] = [];
    const deploy = requireApproval(
      client,
      async (service: string) => {
        calls.push(service);
        return `deployed ${service}`;
      },
      {
        request: (service) => ({
          action_type: 'deploy',
          description: `Deploy ${service} to staging`,
          requested_by: 'pipeline',
          context: { environment: 'staging' },
        }),
      },
    );
    expect(await deploy('web')).toBe('deployed web');
    expect(calls).toEqual(['web']);
    const [latest] = (await client.list({ requested_by: 'pipeline', limit: 1 })).items;
    const history = await waitUntil(async () => {
      const events = await client.history(latest?.action_id ?? '');
      return events.some((e) => e.event === 'reported') ? events : undefined;
    });
    expect(history.find((e) => e.event === 'reported')?.data).toMatchObject({ outcome: 'executed' });
  });

  it('never runs the function when the approval is refused', async () => {
    let ran = false;
    const pay = requireApproval(
      client,
      async (_amount: number) => {
        ran = true;
      },
      { request: (amount: number) => payment(id('gate'), amount) },
    );
    expect(await rejection(pay(5_000_000))).toBeInstanceOf(ApprovalRejectedError);
    expect(ran).toBe(false);
  });

  it('reports a failed execution and rethrows the error', async () => {
    const action_id = id('fail');
    const job = requireApproval(
      client,
      async () => {
        throw new Error('disk full');
      },
      {
        request: () => ({
          action_id,
          action_type: 'cleanup',
          description: 'Clean tmp',
          requested_by: 'cron',
        }),
      },
    );
    expect((await rejection(job())).message).toBe('disk full');
    const history = await client.history(action_id);
    expect(history.find((e) => e.event === 'reported')?.data).toMatchObject({
      outcome: 'failed',
      detail: 'disk full',
    });
  });

  it('helpers build requests the policy understands', async () => {
    const approval = await requestDeploymentApproval(client, {
      service: 'api',
      environment: 'staging',
      version: 'v1.2.3',
      requested_by: 'pipeline',
    });
    expect(approval).toMatchObject({ status: 'approved', action_type: 'deploy' });
    expect(approval.context).toMatchObject({ environment: 'staging', resource: 'api', version: 'v1.2.3' });
  });
});

describe('pause and resume', () => {
  it('wakes the paused task with the message; only its owner may resume it', async () => {
    const taskId = id('task');
    const agent = new CountersignClient(client.nc, { identity: 'agent-7' });
    const paused = pause(agent, taskId, { reason: 'Waiting for a human to check the plan' });
    const listed = await waitUntil(async () =>
      (await listPaused(client)).find((a) => a.action_id === taskId),
    );
    expect(listed.requested_by).toBe('agent-7');
    const other = new CountersignClient(client.nc, { identity: 'agent-3' });
    expect(await rejection(resume(other, taskId, { message: 'go' }))).toBeInstanceOf(ForbiddenError);
    await resume(agent, taskId, { message: 'plan looks fine' });
    const result = await paused;
    expect(result.message).toBe('plan looks fine');
    expect(result.approval.decided_by).toBe('agent-7');
  });
});

describe('reconnect', () => {
  it('keeps waiting across a nats-server restart and sees a decision made meanwhile', async () => {
    const server = system.nats.server;
    if (!server) throw new Error('this test needs the harness-started nats-server');
    const { action_id } = await client.request(payment(id('recon'), 1500));
    await waitUntil(async () => (await client.get(action_id).catch(() => undefined))?.status === 'pending');
    const waiting = client.waitForDecision(action_id, { timeout: 60_000 });
    await server.crash();
    await server.restart();
    // The decision is made as soon as the services are back; the waiter may still be
    // reconnecting, so it must find the decision in the stream rather than on the wire.
    await waitUntil(
      () => client.decide({ action_id, approved: true, decided_by: 'frank' }).then(() => true),
      { timeout: 30_000, interval: 200 },
    );
    expect((await waiting).status).toBe('approved');
  });
});
