/**
 * Crash safety: 2,000 requests are published to approval.requested while the approval service
 * process is SIGKILLed and restarted several times. Afterwards every request has exactly one
 * row and exactly one approval.decided event, in the state its content calls for, and every
 * audit chain verifies: nothing lost, nothing doubled.
 */
import { Streams, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../services/approval/src/audit.js';
import { TEST_AUDIT_KEYS } from '../services/approval/test/audit-keys.js';
import { alive, eventCounts, payment, startSystem } from './support.js';

const TOTAL = 2_000;
const KILL_AT_ROWS = [250, 650, 1050, 1450];
const sys = await startSystem('crash');

type Expected = { status: string; decided_by: string };

/** Request i and what it must end as: mostly auto-approved, some denied, expired and invalid. */
function requestFor(i: number): { body: unknown; expected: Expected } {
  const action_id = `crash-${i}`;
  switch (i % 10) {
    case 7:
      return { body: payment(action_id, 2_000_000), expected: { status: 'rejected', decided_by: 'policy' } };
    case 8:
      return {
        body: payment(action_id, 1500, { timeout_seconds: 1 }),
        expected: { status: 'expired', decided_by: 'countersign' },
      };
    case 9:
      return {
        body: { action_id, action_type: 'payment', requested_by: 'dave' },
        expected: { status: 'rejected', decided_by: 'countersign' },
      };
    default:
      return { body: payment(action_id, 10), expected: { status: 'approved', decided_by: 'policy' } };
  }
}

const rowCount = async () =>
  Number((await sys.pool.query('select count(*)::int as n from approval.approvals')).rows[0].n);

describe('crash test', () => {
  it('loses and doubles nothing while the service is SIGKILLed during intake', {
    timeout: 120_000,
  }, async () => {
    const requests = Array.from({ length: TOTAL }, (_, i) => requestFor(i));

    // Publish at about 400/s, so the kills below land while requests are still arriving.
    const publishing = (async () => {
      for (let i = 0; i < TOTAL; i += 40) {
        const chunk = requests.slice(i, i + 40);
        await Promise.all(
          chunk.map((r, j) =>
            sys.js.publish(Subjects.requestedBy('dave'), JSON.stringify(r.body), { msgID: `crash-${i + j}` }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    let kills = 0;
    for (const threshold of KILL_AT_ROWS) {
      await waitUntil(async () => (await rowCount()) >= threshold, {
        timeout: 30_000,
        message: `${threshold} rows before kill ${kills + 1}`,
      });
      const pid = sys.approval.process().pid;
      await sys.approval.crash();
      expect(alive(pid)).toBe(false);
      kills++;
      await sys.approval.restart();
    }
    await publishing;

    await waitUntil(
      async () => {
        const terminal = await sys.pool.query(
          "select count(*)::int as n from approval.approvals where status <> 'pending'",
        );
        const events = Object.keys(await eventCounts(sys.nc, Subjects.decidedAll)).length;
        if (terminal.rows[0].n === TOTAL && events === TOTAL) return true;
        // Thrown, so a timeout says how far it got.
        throw new Error(`${await rowCount()} rows, ${terminal.rows[0].n} decided, ${events} decided events`);
      },
      { timeout: 60_000, interval: 250, message: 'every request decided with its event' },
    );

    // Exactly one row per request, in the state its content calls for.
    const rows = await sys.pool.query<{ action_id: string; status: string; decided_by: string }>(
      'select action_id, status, decided_by from approval.approvals',
    );
    expect(rows.rowCount).toBe(TOTAL);
    const byId = new Map(rows.rows.map((r) => [r.action_id, r]));
    const wrong = requests.flatMap((r, i) => {
      const row = byId.get(`crash-${i}`);
      return row?.status === r.expected.status && row.decided_by === r.expected.decided_by
        ? []
        : [{ action_id: `crash-${i}`, expected: r.expected, got: row }];
    });
    expect(wrong).toEqual([]);

    // Exactly one decided event per request, and one pending event per request that waited.
    const decided = await eventCounts(sys.nc, Subjects.decidedAll);
    expect(Object.keys(decided)).toHaveLength(TOTAL);
    expect(Object.entries(decided).filter(([, n]) => n !== 1)).toEqual([]);
    const pending = await eventCounts(sys.nc, Subjects.pendingAll);
    expect(Object.keys(pending)).toHaveLength(TOTAL / 10);
    expect(Object.values(pending).every((n) => n === 1)).toBe(true);

    // Every transaction was all-or-nothing: each audit chain is whole and verifies.
    const audit = await sys.pool.query(
      'select action_id, seq, event, actor, reason, data, at, prev_hash, hash from approval.audit_events order by action_id, seq',
    );
    const chains = new Map<string, typeof audit.rows>();
    for (const row of audit.rows) chains.set(row.action_id, [...(chains.get(row.action_id) ?? []), row]);
    expect(chains.size).toBe(TOTAL);
    const broken = [...chains].filter(
      ([id, events]) =>
        !verifyAuditChain(
          id,
          events.map((e) => ({ ...e, at: e.at.toISOString() })),
          TEST_AUDIT_KEYS,
        ).ok,
    );
    expect(broken.map(([id]) => id)).toEqual([]);

    // Nothing left behind: the work queue is empty and the outbox fully published.
    expect((await sys.jsm.streams.info(Streams.requests)).state.messages).toBe(0);
    const unpublished = await sys.pool.query(
      'select count(*)::int as n from approval.outbox where published_at is null',
    );
    expect(unpublished.rows[0].n).toBe(0);

    // Kills landed while messages were in flight: some had to be delivered again.
    const consumer = await sys.jsm.consumers.info(Streams.requests, 'approval-intake');
    expect(consumer.delivered.consumer_seq).toBeGreaterThan(TOTAL);
    console.log(
      JSON.stringify({
        crash_test: {
          requests: TOTAL,
          kills,
          rows: rows.rowCount,
          decided_events: Object.values(decided).reduce((a, b) => a + b, 0),
          pending_events: Object.values(pending).reduce((a, b) => a + b, 0),
          deliveries: consumer.delivered.consumer_seq,
        },
      }),
    );
  });
});
