/**
 * Bound requests (issue 14, item 1) against the real services: an action_id filed first by
 * someone else never makes a gated function run, and a forged decided event never ends a wait.
 * Every connection authenticates as the identity it plays.
 */
import { CountersignClient, IdempotencyConflictError, requireApproval } from '@countersign/client';
import { type Approval, encodeApprovalEvent, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { startSystem } from './support.js';

const system = await startSystem('bound');
const ops = await system.nats.connect('ops');
const daveNc = await system.nats.connect('dave');
const billingNc = await system.nats.connect('billing-job');
const frankNc = await system.nats.connect('frank');
afterAll(async () => {
  await Promise.all([ops.drain(), daveNc.drain(), billingNc.drain(), frankNc.drain()]);
});

const ignored: Record<string, unknown>[] = [];
const logger = { warn: (fields: Record<string, unknown>) => void ignored.push(fields) };
const dave = new CountersignClient(daveNc, { identity: 'dave', timeout: 10_000 });
const billing = new CountersignClient(billingNc, { identity: 'billing-job', timeout: 10_000, logger });
const frank = new CountersignClient(frankNc, { identity: 'frank', timeout: 10_000 });

let n = 0;
const invoice = () => `${Date.now().toString(36)}-${++n}`;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const payment = (action_id: string, amount: number) => ({
  action_id,
  action_type: 'payment',
  description: `Pay ${amount}`,
  context: { amount, currency: 'EUR' },
});

describe('a squatted action_id', () => {
  it("never runs billing-job's gated payment on dave's auto-approved noop", async () => {
    const actionId = `pay-${invoice()}`;
    // The attacker files a harmless, auto-approved request first under the id billing-job will use.
    const squatter = await dave.requestAndWait({
      action_id: actionId,
      action_type: 'noop',
      description: 'nothing',
    });
    expect(squatter.status).toBe('approved');

    let ran = false;
    const pay = requireApproval(
      billing,
      async (_invoice: string, _amount: number) => {
        ran = true;
        return 'paid';
      },
      { request: (_invoice, amount) => payment(actionId, amount), wait: { timeout: 15_000 } },
    );
    const err = await rejection(pay('42', 50_000));
    expect(err).toBeInstanceOf(IdempotencyConflictError);
    expect((err as IdempotencyConflictError).code).toBe('idempotency_conflict');
    expect((err as IdempotencyConflictError).details?.reasons).toEqual([
      expect.objectContaining({ code: 'action_id_taken' }),
    ]);
    expect(ran).toBe(false);
  });

  it('refuses the same requester reusing an id with other content, after the stream says duplicate', async () => {
    const actionId = `pay-${invoice()}`;
    const first = await billing.request(payment(actionId, 1500));
    expect(first.duplicate).toBe(false);
    await waitUntil(async () => (await billing.get(actionId).catch(() => undefined))?.status);
    const again = await billing.request(payment(actionId, 1500));
    expect(again).toMatchObject({ duplicate: true, request_hash: first.request_hash });
    const err = await rejection(billing.request(payment(actionId, 50_000)));
    expect(err).toBeInstanceOf(IdempotencyConflictError);
    expect((err as IdempotencyConflictError).details?.reasons).toEqual([
      expect.objectContaining({ code: 'content_differs' }),
    ]);
  });

  it('carries the request hash the requester computed', async () => {
    const actionId = `pay-${invoice()}`;
    const receipt = await billing.request(payment(actionId, 1500));
    await waitUntil(async () => (await billing.get(actionId).catch(() => undefined))?.status);
    expect((await billing.get(actionId)).request_hash).toBe(receipt.request_hash);
  });
});

describe('a forged decided event', () => {
  it('does not satisfy a waiter; the real decision does', async () => {
    const actionId = `pay-${invoice()}`;
    const waiting = billing.requestAndWait(payment(actionId, 1500), { timeout: 20_000 });
    await waitUntil(async () => (await billing.get(actionId).catch(() => undefined))?.status === 'pending');
    const real = await billing.get(actionId);
    const forged = (data: Approval) =>
      ops.publish(
        Subjects.decided(actionId),
        encodeApprovalEvent({
          id: `${actionId}.decided`,
          type: 'approval.decided',
          occurred_at: new Date().toISOString(),
          data,
        }),
      );
    const before = ignored.length;
    // Approved "by frank", for other content (the hash of another request) and with no hash at all.
    const approved = {
      ...real,
      status: 'approved' as const,
      decided_by: 'frank',
      decided_at: real.created_at,
    };
    forged({ ...approved, request_hash: 'f'.repeat(64) });
    const { request_hash: _dropped, ...withoutHash } = approved;
    forged(withoutHash);
    forged({ ...approved, action_id: `${actionId}-other` });
    await ops.flush();
    await waitUntil(() => ignored.length >= before + 3);
    expect(ignored.slice(before).map((f) => f.mismatch)).toEqual([
      'request_hash',
      'request_hash',
      'action_id',
    ]);

    await frank.decide({ action_id: actionId, approved: false, reason: 'not this one' });
    const err = await rejection(waiting);
    expect(err.name).toBe('ApprovalRejectedError');
  });
});

describe('approval.submit', () => {
  it("refuses an id held by another requester with forbidden/action_id_taken, and keeps the holder's approval", async () => {
    const actionId = `pay-${invoice()}`;
    const held = await dave.submit({
      action_id: actionId,
      action_type: 'noop',
      description: 'nothing',
      requested_by: 'dave',
    });
    const err = await rejection(
      billing.submit({ ...payment(actionId, 50_000), requested_by: 'billing-job' }),
    );
    expect(err.name).toBe('ForbiddenError');
    expect((err as IdempotencyConflictError).details?.reasons).toEqual([
      expect.objectContaining({ code: 'action_id_taken' }),
    ]);
    expect(await billing.get(actionId)).toMatchObject({
      requested_by: 'dave',
      request_hash: held.request_hash,
    });
  });
});
