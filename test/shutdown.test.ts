/**
 * Graceful shutdown: SIGTERM while requests stream in. The process exits 143, batches in flight
 * are committed and acked, buffered messages are handed back at once (not after ack_wait), and
 * the next instance records everything exactly once.
 */
import { Streams, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { eventCounts, payment, spawnApproval, startSystem } from './support.js';

// A minute of ack_wait: only a graceful hand-back lets the next instance finish sooner.
const ACK_WAIT = { INTAKE_ACK_WAIT: '60s' };
const sys = await startSystem('shutdown', ACK_WAIT);
const TOTAL = 600;

const rowCount = async () =>
  Number((await sys.pool.query('select count(*)::int as n from approval.approvals')).rows[0].n);

describe('graceful shutdown', () => {
  it('drains on SIGTERM: exit 143, nothing left unacked, the next instance records the rest once', async () => {
    await Promise.all(
      Array.from({ length: TOTAL }, (_, i) =>
        sys.js.publish(Subjects.requestedBy('dave'), JSON.stringify(payment(`stop-${i}`, 10)), {
          msgID: `stop-${i}`,
        }),
      ),
    );
    await waitUntil(async () => (await rowCount()) >= 50, { message: 'intake under way' });

    const proc = sys.approval.process();
    await sys.approval.stop();
    expect(await proc.exited).toBe(143);
    expect(sys.approval.logs().some((l) => l.includes('"msg":"stopped"'))).toBe(true);

    await spawnApproval(sys, ACK_WAIT);
    // Well within ack_wait: what the stopped instance had buffered was handed back (nak), not
    // left for the server to redeliver after a timeout. (Handed-back messages still count in
    // num_ack_pending until redelivered, so the timing is the proof.)
    await waitUntil(
      async () => {
        const counts = await eventCounts(sys.nc, Subjects.decidedAll);
        return (await rowCount()) === TOTAL && Object.keys(counts).length === TOTAL;
      },
      { timeout: 30_000, message: 'every request recorded with its decided event' },
    );
    const counts = await eventCounts(sys.nc, Subjects.decidedAll);
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    expect((await sys.jsm.streams.info(Streams.requests)).state.messages).toBe(0);
  });
});
