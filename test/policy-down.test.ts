/**
 * Fail closed: while the policy service is down nothing is decided (in particular nothing is
 * auto-approved) and nothing is written; intake messages are retried, and once the policy is
 * back every request is decided as the policy says.
 */
import { CountersignError, Streams, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { call, eventCounts, payment, startSystem } from './support.js';

const sys = await startSystem('policy-down');

const rows = async (prefix: string) =>
  (
    await sys.pool.query<{ action_id: string; status: string; decided_by: string | null }>(
      'select action_id, status, decided_by from approval.approvals where action_id like $1 order by action_id',
      [`${prefix}%`],
    )
  ).rows;

describe('policy down', () => {
  it('decides nothing while the policy is down, and everything correctly once it is back', async () => {
    const waiting = await call(sys.nc, 'submit', payment('before-down', 1500));
    expect(waiting.status).toBe('pending');
    await sys.policy.crash();

    // The synchronous paths answer unavailable and write nothing.
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (err: unknown) => (err instanceof CountersignError ? err.code : String(err)),
      );
    expect(await refusal(call(sys.nc, 'submit', payment('down-sync', 10)))).toBe('unavailable');
    const vote = { action_id: waiting.action_id, approved: true, decided_by: 'frank' };
    expect(await refusal(call(sys.nc, 'decide', vote))).toBe('unavailable');
    expect((await call(sys.nc, 'get', { action_id: waiting.action_id })).votes).toEqual([]);

    // The durable path keeps the requests and retries them.
    const expected = new Map<string, { status: string; decided_by: string | null }>();
    for (let i = 0; i < 30; i++) {
      const id = `down-${String(i).padStart(2, '0')}`;
      const [amount, outcome] =
        i % 3 === 0
          ? [10, { status: 'approved', decided_by: 'policy' }]
          : i % 3 === 1
            ? [2_000_000, { status: 'rejected', decided_by: 'policy' }]
            : [1500, { status: 'pending', decided_by: null }];
      expected.set(id, outcome);
      await sys.js.publish(Subjects.requestedBy('dave'), JSON.stringify(payment(id, amount)), { msgID: id });
    }
    // Every message delivered, refused for lack of a policy, and delivered again.
    await waitUntil(
      async () => {
        const info = await sys.jsm.consumers.info(Streams.requests, 'approval-intake');
        return info.delivered.stream_seq >= 30 && info.delivered.consumer_seq >= 90;
      },
      { timeout: 20_000, message: 'the intake to retry every message' },
    );
    expect(await rows('down')).toEqual([]);
    expect(Object.keys(await eventCounts(sys.nc, Subjects.decidedAll))).toEqual([]);
    expect(sys.approval.logs().some((l) => l.includes('submission not recorded; retrying later'))).toBe(true);

    await sys.policy.restart();

    const decided = await waitUntil(
      async () => {
        const now = await rows('down-');
        return now.length === expected.size ? now : undefined;
      },
      { timeout: 20_000, message: 'every request to be recorded once the policy is back' },
    );
    expect(
      Object.fromEntries(decided.map((r) => [r.action_id, { status: r.status, decided_by: r.decided_by }])),
    ).toEqual(Object.fromEntries(expected));
    expect((await sys.jsm.streams.info(Streams.requests)).state.messages).toBe(0);
    expect((await call(sys.nc, 'submit', payment('down-sync', 10))).status).toBe('approved');
    expect((await call(sys.nc, 'decide', vote)).status).toBe('approved');
  });
});
