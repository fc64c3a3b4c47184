/**
 * Scenario 4, scale: with a million approvals stored, the latency of `approval.get` and of
 * filtered `approval.list` calls; and the expiry of 100,000 approvals falling due at once, timed
 * until every decided event has been published. (Memory under load is measured in scenario 2.)
 */
import { Subjects } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';
import { Cleanup } from '../lib/cleanup.js';
import type { BenchContext } from '../lib/context.js';
import { ACTION_TYPES, loadApprovals, loadDueApprovals, REQUESTERS } from '../lib/fixtures.js';
import { closedLoop, waitUntil } from '../lib/load.js';
import { fmt, fmtMs, type Goal, type ScenarioResult } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { sql, startSystem } from '../lib/system.js';

const encoder = new TextEncoder();
const CONCURRENCY = 4;

/** A command over NATS, as any client sends it; an error reply throws. */
async function command(nc: NatsConnection, subject: string, body: unknown): Promise<unknown> {
  const reply = await nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout: 10_000 });
  if (reply.headers?.get('Nats-Service-Error-Code')) throw new Error(reply.headers.get('Nats-Service-Error'));
  return reply.json();
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;

/** The list filters measured: what dashboards and clients ask (default page of 50). */
function listFilters(count: number): { name: string; body: () => Record<string, unknown> }[] {
  return [
    { name: 'status = pending', body: () => ({ status: 'pending' }) },
    { name: 'run_id = one run', body: () => ({ run_id: `run-${Math.floor(Math.random() * (count / 10))}` }) },
    { name: 'action_type', body: () => ({ action_type: pick(ACTION_TYPES) }) },
    {
      name: 'requested_by + status = approved',
      body: () => ({ requested_by: pick(REQUESTERS), status: 'approved' }),
    },
    {
      name: 'action_type + status = rejected',
      body: () => ({ action_type: pick(ACTION_TYPES), status: 'rejected' }),
    },
    {
      name: 'requested_by + status = cancelled (2 %)',
      body: () => ({ requested_by: pick(REQUESTERS), status: 'cancelled' }),
    },
  ];
}

/**
 * PostgreSQL's own execution time of the list queries (pg_stat_statements): how much of a
 * list call the database accounts for.
 */
async function listStatementTime(
  databaseUrl: string,
): Promise<{ calls: number; meanMs: number; maxMs: number }> {
  const [row] = await sql<{ calls: string; mean: number; max: number }>(
    databaseUrl,
    `select sum(calls) as calls, sum(total_exec_time) / nullif(sum(calls), 0) as mean, max(max_exec_time) as max
       from pg_stat_statements
      where query like '%from approval.approvals a%order by a.created_at desc, a.action_id desc%'`,
  );
  return {
    calls: Number(row?.calls ?? 0),
    meanMs: Number(row?.mean ?? Number.NaN),
    maxMs: Number(row?.max ?? Number.NaN),
  };
}

export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const started = performance.now();
  const cleanup = new Cleanup();
  try {
    const system = await startSystem(cleanup, { notifier: false });
    const { nc } = system;
    const stored = ctx.size(1_000_000, 100_000);
    const loadStart = performance.now();
    await loadApprovals(system.infra.databaseUrl, 'bulk', stored);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    ctx.log(`${fmt(stored)} approvals stored in ${fmt(loadSeconds, 1)} s`);

    const seconds = ctx.seconds(8, 3);
    const get = () =>
      command(nc, 'approval.get', { action_id: `bulk-${1 + Math.floor(Math.random() * stored)}` });
    await closedLoop({ concurrency: CONCURRENCY, seconds: 1, op: get });
    const gets = await closedLoop({ concurrency: CONCURRENCY, seconds, op: get });
    const getLatency = summarize(gets.latenciesMs);
    ctx.log(`approval.get: p50 ${fmtMs(getLatency.p50)} ms, p99 ${fmtMs(getLatency.p99)} ms`);

    const filters = listFilters(stored);
    const perFilter = new Map(filters.map((f) => [f.name, [] as number[]]));
    const all: number[] = [];
    let listErrors = 0;
    const list = async () => {
      const filter = pick(filters);
      const t0 = performance.now();
      await command(nc, 'approval.list', filter.body());
      const ms = performance.now() - t0;
      perFilter.get(filter.name)?.push(ms);
      all.push(ms);
    };
    await closedLoop({ concurrency: CONCURRENCY, seconds: 1, op: list });
    perFilter.forEach((v) => {
      v.length = 0;
    });
    all.length = 0;
    await sql(system.infra.databaseUrl, 'select pg_stat_statements_reset()');
    const lists = await closedLoop({ concurrency: CONCURRENCY, seconds, op: list });
    listErrors = lists.errors;
    const db = await listStatementTime(system.infra.databaseUrl);
    const listLatency = summarize(all);
    ctx.log(`approval.list: p50 ${fmtMs(listLatency.p50)} ms, p99 ${fmtMs(listLatency.p99)} ms`);

    // Expiry: approvals that all fall due at one instant, timed to their last decided event.
    const due = ctx.size(100_000, 10_000);
    let decided = 0;
    let firstAt = 0;
    let lastAt = 0;
    const sub = nc.subscribe(Subjects.decidedAll, {
      callback: (_err, msg) => {
        if (!msg.subject.startsWith('approval.decided.exp-')) return;
        decided++;
        lastAt = performance.now();
        firstAt ||= lastAt;
      },
    });
    cleanup.add('expiry subscription', async () => sub.unsubscribe());
    const lead = ctx.seconds(40, 15) * 1000;
    const dueAt = new Date(Date.now() + lead);
    const duePerf = performance.now() + lead;
    await loadDueApprovals(system.infra.databaseUrl, 'exp', due, dueAt);
    const loadedBeforeDue = performance.now() < duePerf;
    await waitUntil(() => decided >= due, lead + 600_000, 100);
    const expiry = {
      count: due,
      decided,
      firstSeconds: (firstAt - duePerf) / 1000,
      allSeconds: (lastAt - duePerf) / 1000,
      loadedBeforeDue,
    };
    ctx.log(
      `expiry: ${fmt(decided)} of ${fmt(due)} decided events, the last ${fmt(expiry.allSeconds, 1)} s after the deadline`,
    );

    const goals: Goal[] = [
      {
        goal: `approval.get p99 ≤ 20 ms with ${fmt(stored)} approvals stored`,
        measured: `p99 ${fmtMs(getLatency.p99)} ms (p50 ${fmtMs(getLatency.p50)} ms)`,
        met: getLatency.p99 <= 20 && gets.errors === 0,
      },
      {
        goal: `filtered approval.list p99 ≤ 20 ms with ${fmt(stored)} approvals stored`,
        measured: `p99 ${fmtMs(listLatency.p99)} ms over ${filters.length} filters (p50 ${fmtMs(listLatency.p50)} ms)`,
        met: listLatency.p99 <= 20 && listErrors === 0,
        note: `PostgreSQL executes a list query in ${fmtMs(db.meanMs)} ms on average (max ${fmtMs(db.maxMs)} ms, pg_stat_statements, ${fmt(db.calls)} calls): the rest is reading, encoding, sending and parsing 50 full records per call (about 50 KB of JSON, votes included), on cores the machine shares.`,
      },
    ];
    return {
      id: 'scale',
      title: '4. Scale and memory',
      tables: [
        {
          title: `Reads with ${fmt(stored)} approvals stored (ms; ${CONCURRENCY} callers, ${seconds} s each, over NATS)`,
          columns: ['command', 'calls', 'p50', 'p99', 'max', 'errors'],
          rows: [
            [
              'approval.get (random approval, with votes and history)',
              getLatency.count,
              fmtMs(getLatency.p50),
              fmtMs(getLatency.p99),
              fmtMs(getLatency.max),
              gets.errors,
            ],
            [
              'approval.list, all filters below',
              listLatency.count,
              fmtMs(listLatency.p50),
              fmtMs(listLatency.p99),
              fmtMs(listLatency.max),
              listErrors,
            ],
            ...filters.map((f) => {
              const s = summarize(perFilter.get(f.name) ?? []);
              return [`  list: ${f.name}`, s.count, fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max), '-'];
            }),
          ],
        },
        {
          title: `Expiry of ${fmt(due)} approvals falling due at once (seconds after the deadline)`,
          columns: ['approvals', 'decided events', 'first event', 'last event', 'events/s'],
          rows: [
            [
              fmt(due),
              fmt(decided),
              fmt(expiry.firstSeconds, 1),
              fmt(expiry.allSeconds, 1),
              fmt(decided / Math.max(0.001, expiry.allSeconds)),
            ],
          ],
        },
      ],
      goals,
      notes: [
        `The ${fmt(stored)} approvals were written with SQL (insert … select generate_series) in ${fmt(loadSeconds)} s, spread over 90 days: 75 % auto-approved, 10 % decided by people (with votes), 5 % denied or invalid, 8 % expired, 2 % cancelled, and the people's approvals of the last two hours still pending; ten action types, twenty requesters, runs of ten; two audit events per decided approval.`,
        'Each list call asks for the default page of 50, newest first; a filter is picked at random per call.',
        `Expiry: the service's own loop (every EXPIRY_INTERVAL, default 2 s; EXPIRY_BATCH_SIZE approvals per transaction), then the outbox relay; the time runs from the deadline to the last decided event received by a subscriber.${loadedBeforeDue ? '' : ' The fixture was still being written at the deadline.'}`,
        'Memory (RSS per service) is measured under the end-to-end load of scenario 2 and reported there.',
      ],
      data: {
        stored,
        loadSeconds,
        get: getLatency,
        list: listLatency,
        listDatabase: db,
        perFilter: Object.fromEntries([...perFilter].map(([k, v]) => [k, summarize(v)])),
        expiry,
      },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cleanup.run();
  }
}
