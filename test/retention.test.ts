/**
 * Bounded storage: the tables that only grew are pruned by the retention jobs, rows past their
 * retention go, rows within it (and everything unpublished, undelivered or still referenced)
 * stay, approvals, votes and audit trails are never touched, and every audit chain still
 * verifies afterwards (`pnpm verify-audit`: rows, keyed chains, signed heads). The approval service's job runs on its own
 * schedule in the real process; the notifier's is run directly, in batches smaller than the
 * rows to delete, and once while another replica holds the lock.
 */
import { createLogger, migrate, runRetention } from '@countersign/runtime';
import { TEST_AUDIT_KEY, testSigningKeysFile, waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { runVerifyAudit } from '../services/approval/src/verify-audit.js';
import { NotifierEnv } from '../services/notifier/src/config.js';
import { notifierMigrations } from '../services/notifier/src/migrations.js';
import { NOTIFIER_RETENTION_LOCK, notifierRetentionSteps } from '../services/notifier/src/retention.js';
import { call, payment, startSystem } from './support.js';

// The approval service prunes every 2 s here (an hour by default), with its default retentions.
const sys = await startSystem('retention', { RETENTION_INTERVAL: '2s' });
const logger = createLogger({ service: 'retention-test', level: 'silent' });
await migrate(sys.pool, { ...notifierMigrations, logger });

const DAY = 86_400_000;
const tag = Date.now().toString(36);
const ids = {
  auto: [1, 2, 3, 4].map((i) => `ret-auto-${i}-${tag}`),
  voted: `ret-voted-${tag}`,
  pending: `ret-pending-${tag}`,
};

/** Row counts of the tables the jobs must never touch. */
async function recordCounts() {
  const { rows } = await sys.pool.query<{ approvals: string; votes: string; audit: string }>(
    `select (select count(*) from approval.approvals) as approvals,
            (select count(*) from approval.votes) as votes,
            (select count(*) from approval.audit_events) as audit`,
  );
  return rows[0];
}

const q = async (sql: string, values: unknown[] = []) => (await sys.pool.query(sql, values)).rows;
const keys = async (sql: string, values: unknown[] = []) =>
  (await q(sql, values)).map((r) => String(Object.values(r)[0])).sort();

/** `pnpm verify-audit --all` against this system: rows, chains (with the audit key) and signed heads. */
async function verifyAudit(): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const env = {
    ...sys.nats.env('ops'),
    DATABASE_URL: sys.db.url,
    AUDIT_KEY: TEST_AUDIT_KEY,
    SIGNING_KEYS_FILE: testSigningKeysFile(),
  };
  const code = await runVerifyAudit(['--all'], env, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

describe('the approval service’s retention job', () => {
  it('prunes published outbox rows, expired review-link nonces and sign-outs past retention, and nothing else', async () => {
    // Real approvals, with their audit trails and outbox rows: auto-approved, voted, pending.
    for (const id of ids.auto)
      expect((await call(sys.nc, 'submit', payment(id, 10))).status).toBe('approved');
    expect((await call(sys.nc, 'submit', payment(ids.voted, 1500))).status).toBe('pending');
    await call(sys.nc, 'decide', { action_id: ids.voted, approved: true, decided_by: 'frank' });
    expect((await call(sys.nc, 'submit', payment(ids.pending, 1500))).status).toBe('pending');
    const all = [...ids.auto, ids.voted, ids.pending];
    await waitUntil(
      async () =>
        Number(
          (
            await q(
              'select count(*) as n from approval.outbox where action_id = any($1) and published_at is null',
              [all],
            )
          )[0]?.n,
        ) === 0,
      { message: 'the relay to publish every event' },
    );
    const before = await recordCounts();

    // Past retention (7 days by default): two approvals' published events, published 8 days ago.
    // Within it: the rest, published 6 days ago or just now.
    const old = ids.auto.slice(0, 2);
    await q(`update approval.outbox set published_at = now() - interval '8 days' where action_id = any($1)`, [
      old,
    ]);
    await q(`update approval.outbox set published_at = now() - interval '6 days' where action_id = $1`, [
      ids.auto[2],
    ]);
    // Spent review-link nonces: expired 8 days ago (gone), 6 days ago and not yet (kept).
    await q(
      `insert into approval.used_review_tokens (nonce, action_id, approver, expires_at) values
         ($1, $4, 'frank', now() - interval '8 days'),
         ($2, $4, 'frank', now() - interval '6 days'),
         ($3, $4, 'frank', now() + interval '1 day')`,
      [`old-${tag}`, `recent-${tag}`, `live-${tag}`, ids.voted],
    );
    // Sign-outs: of a session that has expired (gone) and of one that has not (kept).
    await q(
      `insert into approval.signed_out_sessions (session_id, expires_at) values
         ($1, now() - interval '1 minute'), ($2, now() + interval '1 hour')`,
      [`expired-${tag}`, `live-${tag}`],
    );

    await waitUntil(
      async () =>
        (await keys('select nonce from approval.used_review_tokens where nonce = $1', [`old-${tag}`]))
          .length === 0 &&
        (await keys('select action_id from approval.outbox where action_id = any($1)', [old])).length === 0,
      { message: 'the scheduled retention run', timeout: 30_000 },
    );

    expect(
      await keys('select distinct action_id from approval.outbox where action_id = any($1)', [all]),
    ).toEqual([ids.auto[2], ids.auto[3], ids.voted, ids.pending].sort());
    expect(
      await keys('select nonce from approval.used_review_tokens where nonce like $1', [`%-${tag}`]),
    ).toEqual([`live-${tag}`, `recent-${tag}`].sort());
    expect(
      await keys('select session_id from approval.signed_out_sessions where session_id like $1', [
        `%-${tag}`,
      ]),
    ).toEqual([`live-${tag}`]);
    // The system of record is whole: not one approval, vote or audit event less.
    expect(await recordCounts()).toEqual(before);
    // And a pruned approval still answers, with its history.
    const get = await call(sys.nc, 'get', { action_id: old[0] as string });
    expect(get.status).toBe('approved');

    const verified = await verifyAudit();
    expect(verified.code, verified.output).toBe(0);
    expect(verified.output).toMatch(
      /^\d+ approval\(s\) checked against \d+ signed head message\(s\): every record agrees$/m,
    );
  });
});

describe('the notifier’s retention job', () => {
  const settings = NotifierEnv.parse({
    DATABASE_URL: sys.env.DATABASE_URL,
    DIRECTORY_FILE: 'unused.yaml',
    NOTIFIER_CONFIG: 'unused.yaml',
  }).retention;

  /** An event received `daysAgo`, with deliveries `[status, finished daysAgo]`. */
  async function event(name: string, daysAgo: number, deliveries: [string, number | null][]) {
    const id = `${name}-${tag}`;
    await q(
      `insert into notifier.events (id, type, action_id, body, received_at)
       values ($1, 'approval.decided', $2, '{}', now() - make_interval(days => $3))`,
      [id, `a-${id}`, daysAgo],
    );
    for (const [i, [status, finished]] of deliveries.entries()) {
      const [row] = await q(
        `insert into notifier.deliveries (event_id, channel, kind, target, status, attempts, finished_at, next_attempt_at)
         values ($1, 'email', 'email', $2, $3, 1,
                 case when $4::int is null then null else now() - make_interval(days => $4::int) end,
                 case when $3 = 'scheduled' then now() else null end)
         returning id`,
        [id, `t${i}@example.com`, status, finished],
      );
      await q(
        `insert into notifier.attempts (delivery_id, attempt, started_at, outcome) values ($1, 1, now(), 'delivered')`,
        [row?.id],
      );
    }
  }

  it('prunes finished deliveries, old dead letters and unreferenced events past retention, in batches, once across replicas', async () => {
    expect(settings).toMatchObject({ deliveriesMs: 30 * DAY, deadLettersMs: 90 * DAY, eventsMs: 60 * DAY });
    await event('gone-all', 61, [
      ['delivered', 31],
      ['delivered', 40],
    ]);
    await event('keeps-recent-delivery', 61, [
      ['delivered', 29],
      ['delivered', 31],
    ]);
    await event('keeps-dead-letter', 100, [
      ['dead', 89],
      ['dead', 91],
      ['superseded', 95],
    ]);
    await event('keeps-scheduled', 100, [['scheduled', null]]);
    await event('recent-no-deliveries', 59, []);
    await event('old-no-deliveries', 61, []);
    for (const [name, days] of [
      ['old', 91],
      ['recent', 89],
    ] as const)
      await q(
        `insert into notifier.invalid_events (subject, error, raw, received_at)
         values ('approval.decided.x', $1, '{}', now() - make_interval(days => $2))`,
        [`${name}-${tag}`, days],
      );

    // Slack app messages whose decision never came to update them: forgotten with the events.
    for (const [name, days] of [
      ['old', 61],
      ['recent', 59],
    ] as const)
      await q(
        `insert into notifier.slack_messages (channel, action_id, slack_channel, ts, posted_at)
         values ('slack', $1, 'C0X', '1.2', now() - make_interval(days => $2))`,
        [`${name}-${tag}`, days],
      );

    const steps = notifierRetentionSteps(settings);
    // Another replica running a pass holds the lock: this one skips, deleting nothing.
    const other = await sys.pool.connect();
    try {
      await other.query('select pg_advisory_lock(hashtext($1))', [NOTIFIER_RETENTION_LOCK]);
      expect(
        await runRetention({
          pool: sys.pool,
          logger,
          lockName: NOTIFIER_RETENTION_LOCK,
          steps,
          batchSize: 1,
        }),
      ).toEqual({ skipped: true });
    } finally {
      await other.query('select pg_advisory_unlock(hashtext($1))', [NOTIFIER_RETENTION_LOCK]);
      other.release();
    }
    const result = await runRetention({
      pool: sys.pool,
      logger,
      lockName: NOTIFIER_RETENTION_LOCK,
      steps,
      batchSize: 1,
    });
    expect(result).toEqual({
      skipped: false,
      deleted: { deliveries: 3, dead_letters: 2, invalid_events: 1, events: 2, slack_messages: 1 },
    });
    expect(
      await keys('select action_id from notifier.slack_messages where action_id like $1', [`%-${tag}`]),
    ).toEqual([`recent-${tag}`]);

    const left = await q(
      `select e.id, array_remove(array_agg(d.status || ':' || extract(day from now() - d.finished_at)::int order by d.id), null) as deliveries
         from notifier.events e left join notifier.deliveries d on d.event_id = e.id
        where e.id like $1 group by e.id order by e.id`,
      [`%-${tag}`],
    );
    expect(Object.fromEntries(left.map((r) => [r.id, r.deliveries]))).toEqual({
      [`keeps-dead-letter-${tag}`]: ['dead:89'],
      [`keeps-recent-delivery-${tag}`]: ['delivered:29'],
      [`keeps-scheduled-${tag}`]: [],
      [`recent-no-deliveries-${tag}`]: [],
    });
    // The scheduled delivery (no finished_at) is there, and attempts went with their deliveries.
    expect(
      await keys(
        `select status from notifier.deliveries d join notifier.events e on e.id = d.event_id where e.id = $1`,
        [`keeps-scheduled-${tag}`],
      ),
    ).toEqual(['scheduled']);
    expect(
      Number(
        (
          await q(
            'select count(*) as n from notifier.attempts a left join notifier.deliveries d on d.id = a.delivery_id where d.id is null',
          )
        )[0]?.n,
      ),
    ).toBe(0);
    expect(await keys('select error from notifier.invalid_events where error like $1', [`%-${tag}`])).toEqual(
      [`recent-${tag}`],
    );

    // A second pass finds nothing more.
    expect(
      await runRetention({ pool: sys.pool, logger, lockName: NOTIFIER_RETENTION_LOCK, steps, batchSize: 1 }),
    ).toEqual({
      skipped: false,
      deleted: { deliveries: 0, dead_letters: 0, invalid_events: 0, events: 0, slack_messages: 0 },
    });
  });
});
