/**
 * Several replicas at once: two approval service processes share the intake consumer, the
 * outbox relay and the expiry sweep. A burst is recorded exactly once, by both of them, even
 * when one is SIGKILLed halfway, and approvals expiring meanwhile are expired exactly once.
 */
import { Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { eventCounts, payment, spawnApproval, startSystem } from './support.js';

const TOTAL = 1_000;
// Debug: "approval recorded" (one line per approval) is logged at debug, off the hot path.
const sys = await startSystem('replicas', { LOG_LEVEL: 'debug' });
const second = await spawnApproval(sys, { LOG_LEVEL: 'debug' });

const rowCount = async () =>
  Number((await sys.pool.query('select count(*)::int as n from approval.approvals')).rows[0].n);
const recordedBy = (logs: string[]) => logs.filter((l) => l.includes('"msg":"approval recorded"')).length;

describe('two replicas', () => {
  it('record a burst exactly once between them, one of them crashing halfway', {
    timeout: 90_000,
  }, async () => {
    // Every fifth request waits for people and times out after a second: both sweeps race on it.
    const body = (i: number) =>
      i % 5 === 0 ? payment(`rep-${i}`, 1500, { timeout_seconds: 1 }) : payment(`rep-${i}`, 10);
    await Promise.all(
      Array.from({ length: TOTAL }, (_, i) =>
        sys.js.publish(Subjects.requestedBy('dave'), JSON.stringify(body(i)), { msgID: `rep-${i}` }),
      ),
    );
    // Crash one replica halfway, once both have committed a share: a replica whose whole pull was
    // still in flight at the crash would otherwise show no recorded line, and "both did a share"
    // would say nothing about the crash.
    await waitUntil(
      async () =>
        (await rowCount()) >= TOTAL / 2 &&
        recordedBy(sys.approval.logs()) > 0 &&
        recordedBy(second.logs()) > 0,
      { timeout: 30_000, message: 'half recorded, by both replicas' },
    );
    await sys.approval.crash();
    await sys.approval.restart();

    await waitUntil(
      async () => {
        const pending = await sys.pool.query(
          "select count(*)::int as n from approval.approvals where status = 'pending'",
        );
        const events = Object.keys(await eventCounts(sys.nc, Subjects.decidedAll)).length;
        if ((await rowCount()) === TOTAL && pending.rows[0].n === 0 && events === TOTAL) return true;
        throw new Error(`${await rowCount()} rows, ${pending.rows[0].n} pending, ${events} decided events`);
      },
      { timeout: 60_000, interval: 250, message: 'every request decided with its event' },
    );
    const decided = await eventCounts(sys.nc, Subjects.decidedAll);
    expect(Object.values(decided).filter((n) => n !== 1)).toEqual([]);
    const statuses = await sys.pool.query(
      'select status, decided_by, count(*)::int as n from approval.approvals group by 1, 2 order by 1',
    );
    expect(statuses.rows).toEqual([
      { status: 'approved', decided_by: 'policy', n: (TOTAL * 4) / 5 },
      { status: 'expired', decided_by: 'countersign', n: TOTAL / 5 },
    ]);
    const expiredTwice = await sys.pool.query(
      "select action_id from approval.audit_events where event = 'expired' group by action_id having count(*) > 1",
    );
    expect(expiredTwice.rows).toEqual([]);
    // Both did a share of the work.
    expect(recordedBy(sys.approval.logs())).toBeGreaterThan(0);
    expect(recordedBy(second.logs())).toBeGreaterThan(0);
  });
});
