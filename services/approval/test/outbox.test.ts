/**
 * The outbox relay: it wakes on NOTIFY (the poll interval here is a minute, so only NOTIFY can
 * explain a prompt event), survives losing its LISTEN connection, and backs off while NATS is
 * down without losing or doubling an event.
 */
import { APPROVAL_EVENT_VERSION, approvalEventId, Streams, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { LISTENER_NAME } from '../src/outbox.js';
import { call, capturingLogger, decidedEvent, eventCounts, request, startHarness } from './support.js';

const { logger, lines } = capturingLogger();
// Its own nats-server, whatever NATS_URL says: the last test crashes and restarts it.
const h = await startHarness('outbox', { outboxPollMs: 60_000, outboxPublishTimeoutMs: 1_000 }, logger, {
  ownNats: true,
});

const pending = async () =>
  (await call(h.nc, 'submit', request('ob', { context: { amount: 1500 } }))).action_id;

const listenerPid = async () =>
  (
    await h.pool.query<{ pid: number }>(
      "select pid from pg_stat_activity where datname = current_database() and application_name = $1 and query ilike 'listen%'",
      [LISTENER_NAME],
    )
  ).rows[0]?.pid;

describe('outbox relay', () => {
  it('publishes as soon as a transaction commits, woken by NOTIFY', async () => {
    const id = await pending();
    await call(h.nc, 'cancel', { action_id: id, cancelled_by: 'dave' });
    await waitUntil(
      () => eventCounts(h.nc, Subjects.decided(id)).then((c) => c[Subjects.decided(id)] === 1),
      {
        timeout: 5_000,
        message: 'the decided event well before the next poll',
      },
    );
  });

  it('writes the versioned envelope, with the event id as Nats-Msg-Id', async () => {
    const id = await pending();
    await call(h.nc, 'cancel', { action_id: id, cancelled_by: 'dave' });
    await decidedEvent(h.nc, id);
    const jsm = await jetstreamManager(h.nc);
    const stored = await jsm.streams.getMessage(Streams.events, { last_by_subj: Subjects.decided(id) });
    expect(stored?.header?.get('Nats-Msg-Id')).toBe(approvalEventId(id, 'decided'));
    // Read raw, not decoded: decoding would fill in a missing version.
    expect(JSON.parse(stored?.string() ?? '')).toMatchObject({
      version: APPROVAL_EVENT_VERSION,
      id: `${id}.decided`,
      type: 'approval.decided',
      data: { action_id: id, status: 'cancelled' },
    });
  });

  it('publishes events of a restored database whose outbox ids were used before', async () => {
    const first = await pending();
    await call(h.nc, 'cancel', { action_id: first, cancelled_by: 'dave' });
    expect((await decidedEvent(h.nc, first)).id).toBe(`${first}.decided`);
    // A fresh database on the same NATS (or a restore from before those rows) hands out outbox
    // ids again: events must not be taken for duplicates of what was published under them.
    await waitUntil(
      async () =>
        (await h.pool.query('select 1 from approval.outbox where published_at is null')).rowCount === 0,
    );
    await h.pool.query('delete from approval.outbox');
    await h.pool.query('alter sequence approval.outbox_id_seq restart with 1');
    const second = await pending();
    await call(h.nc, 'cancel', { action_id: second, cancelled_by: 'dave' });
    expect((await decidedEvent(h.nc, second)).id).toBe(`${second}.decided`);
  });

  it('listens again after losing its connection', async () => {
    const before = await waitUntil(listenerPid, { message: 'the listener' });
    await h.pool.query('select pg_terminate_backend($1)', [before]);
    await waitUntil(async () => {
      const pid = await listenerPid();
      return pid !== undefined && pid !== before;
    });
    const id = await pending();
    await call(h.nc, 'cancel', { action_id: id, cancelled_by: 'dave' });
    await decidedEvent(h.nc, id);
    expect(lines.some((l) => l.includes('outbox listener lost its connection'))).toBe(true);
  });

  it('backs off while NATS is down and publishes every event once when it is back', async () => {
    const server = h.nats.server;
    if (!server) throw new Error('the harness was asked for a nats-server of its own');
    // Four seconds to live: they expire while NATS is down, and expiring needs only the
    // database (a cancel or a vote asks the policy over NATS first).
    const ids = await Promise.all(
      Array.from(
        { length: 5 },
        async () =>
          (await call(h.nc, 'submit', request('ob', { context: { amount: 1500 }, timeout_seconds: 4 })))
            .action_id,
      ),
    );
    await waitUntil(async () => {
      const counts = await eventCounts(h.nc, Subjects.pendingAll);
      return ids.every((id) => counts[Subjects.pending(id)] === 1);
    });

    await server.crash();
    const open = await h.pool.query(
      "select count(*)::int as n from approval.approvals where status = 'pending' and action_id = any($1)",
      [ids],
    );
    expect(open.rows[0].n, 'the approvals must still be pending when NATS goes down').toBe(ids.length);
    // The expiry loop decides them; their decided events wait in the outbox.
    await waitUntil(async () => {
      const expired = await h.pool.query(
        "select count(*)::int as n from approval.approvals where status = 'expired' and action_id = any($1)",
        [ids],
      );
      return expired.rows[0].n === ids.length;
    });
    await waitUntil(() => lines.some((l) => l.includes('outbox relay failed; backing off')), {
      message: 'the relay to fail while NATS is down',
    });
    const waiting = await h.pool.query(
      "select count(*)::int as n from approval.outbox where kind = 'decided' and published_at is null and action_id = any($1)",
      [ids],
    );
    expect(waiting.rows[0].n).toBe(ids.length);

    await server.restart();
    for (const id of ids)
      expect((await decidedEvent(h.nc, id)).data).toMatchObject({
        status: 'expired',
        decided_by: 'countersign',
      });
    await waitUntil(async () => {
      const left = await h.pool.query(
        'select count(*)::int as n from approval.outbox where published_at is null',
      );
      return left.rows[0].n === 0;
    });
    const counts = await eventCounts(h.nc, Subjects.decidedAll);
    expect(ids.map((id) => counts[Subjects.decided(id)])).toEqual(ids.map(() => 1));

    // The intake consumer came back with the server too.
    const req = request('after-restart');
    await h.js.publish(Subjects.requestedBy(req.requested_by), JSON.stringify(req));
    expect((await decidedEvent(h.nc, req.action_id)).data.status).toBe('approved');
  });
});
