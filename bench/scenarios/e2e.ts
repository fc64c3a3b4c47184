/**
 * Scenario 2, end-to-end approvals: requests published to `approval.requested`, events counted
 * as a subscriber sees them, with the three services, PostgreSQL (fsync on) and nats-server on
 * this machine. Sustained throughput at saturation (profiled: CPU, NATS messages, commits and
 * statements per approval), latency at fixed rates, and in the same run the raw PostgreSQL
 * limit for the same writes (pgbench), alternating with our runs. Also samples each service's
 * RSS under this load (scenario 4's memory goal).
 */
import { join } from 'node:path';
import { createDatabase, imageNodeOptions, REPO_ROOT, type ServiceProcess } from '@countersign/devinfra';
import { createLogger, migrate, newKeySetText } from '@countersign/runtime';
import pg from 'pg';
import { ApprovalEnv } from '../../services/approval/src/config.js';
import {
  EventTracker,
  fixedRate,
  MIX,
  Publisher,
  type SaturationResult,
  saturate,
} from '../lib/approvals.js';
import { Cleanup } from '../lib/cleanup.js';
import type { BenchContext } from '../lib/context.js';
import { load1 } from '../lib/machine.js';
import { type PgbenchResult, runPgbench } from '../lib/pgbench.js';
import { RssSampler } from '../lib/procstat.js';
import { addNatsCounts, type Profile, Profiler } from '../lib/profile.js';
import { fmt, fmtMs, type Goal, type ScenarioResult } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { type System, settle, sql, startSystem } from '../lib/system.js';

const services = (system: System): ServiceProcess[] =>
  [system.policy, system.approval, system.notifier].filter((p): p is ServiceProcess => p !== undefined);
const readyTimes = (system: System) => Object.fromEntries(services(system).map((p) => [p.name, p.readyMs()]));
const MIB = 2 ** 20;

/** The young generation's ceiling with the image's flags: three semi-spaces (V8's layout). */
function youngGenerationMb(): number {
  const semi = imageNodeOptions().find((f) => f.startsWith('--max-semi-space-size='));
  return semi ? 3 * Number(semi.split('=')[1]) : 48;
}

/** A database with the approval schema for pgbench, next to the service's own. */
async function pgbenchDatabase(adminUrl: string): Promise<string> {
  const url = await createDatabase(adminUrl, 'pgbench_limit');
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(pool, {
      dir: join(REPO_ROOT, 'services/approval/migrations'),
      schema: 'approval',
      logger: createLogger({ service: 'bench', level: 'warn' }),
    });
  } finally {
    await pool.end();
  }
  return url;
}

/** Adds up the profiles of several windows. */
function addProfiles(profiles: readonly Profile[]): Profile {
  const sum: Profile = {
    seconds: 0,
    cpu: {},
    nats: {},
    commits: 0,
    rollbacks: 0,
    walSyncs: 0,
    statements: 0,
    topStatements: [],
  };
  const statements = new Map<string, number>();
  for (const p of profiles) {
    sum.seconds += p.seconds;
    sum.commits += p.commits;
    sum.rollbacks += p.rollbacks;
    sum.walSyncs += p.walSyncs;
    sum.statements += p.statements;
    for (const [k, v] of Object.entries(p.cpu)) sum.cpu[k] = (sum.cpu[k] ?? 0) + v;
    for (const [k, v] of Object.entries(p.nats)) addNatsCounts(sum.nats, k, v.in, v.out);
    for (const s of p.topStatements) statements.set(s.query, (statements.get(s.query) ?? 0) + s.calls);
  }
  sum.topStatements = [...statements.entries()]
    .map(([query, calls]) => ({ query, calls }))
    .sort((a, b) => b.calls - a.calls)
    .slice(0, 10);
  return sum;
}

export async function e2eScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const started = performance.now();
  const loadBefore = load1();
  const cleanup = new Cleanup();
  try {
    const system = await startSystem(cleanup);
    const { infra } = system;
    const rss = new RssSampler(
      system.watched.filter((w) => ['policy', 'approval', 'notifier'].includes(w.name)),
    );
    rss.start();
    const tracker = new EventTracker(system.nc);
    cleanup.add('event subscriptions', async () => tracker.unsubscribe());
    const publisher = new Publisher(system.nc, tracker);
    const profiler = await Profiler.open(system.watched, infra.databaseUrl, infra.monitorUrl);
    cleanup.add('profiler', () => profiler.close());
    const limitUrl = await pgbenchDatabase(infra.postgres.url);
    // The approval service runs with its defaults: the schema's (the required variables given
    // here only to read them; the service gets its own).
    const defaults = ApprovalEnv.parse({
      DATABASE_URL: infra.databaseUrl,
      DIRECTORY_FILE: 'directory.yaml',
      AUDIT_KEY: 'only-read-here-never-used-0123456789',
      SIGNING_KEYS: newKeySetText(),
    }).service;
    const clients = defaults.intakeConcurrency;
    const batch = defaults.intakeBatchSize;

    // Warm-up: JIT, connection pools, the first pages of every index.
    await fixedRate({ publisher, prefix: 'warm', rate: 500, seconds: ctx.seconds(3, 1) });

    const saturation: SaturationResult[] = [];
    const profiles: Profile[] = [];
    const limits = { single: [] as PgbenchResult[], batched: [] as PgbenchResult[] };
    /** Seconds the intake and the notifier needed after each saturation run to finish their queues. */
    const catchUp: number[] = [];
    const seconds = ctx.seconds(10, 4);
    for (let run = 0; run < ctx.runs; run++) {
      let profile: Promise<Profile> | undefined;
      const result = await saturate({
        publisher,
        prefix: `sat${run}`,
        seconds,
        warmupSeconds: ctx.seconds(2, 1),
        maxBacklog: 4_000,
        window: 1_024,
        onWindow: {
          start: () => profiler.start(),
          stop: () => {
            profile = profiler.stop();
            return profile;
          },
        },
      });
      saturation.push(result);
      if (profile) profiles.push(await profile);
      ctx.log(
        `saturation run ${run + 1}: ${fmt(result.perSecond)} approvals/s (drained in ${fmt(result.drainSeconds, 1)} s, ${result.publishErrors} publish errors)`,
      );
      const settleStart = performance.now();
      await settle(system.nc);
      catchUp.push((performance.now() - settleStart) / 1000);
      // The raw limit, side by side: one approval per transaction, then the service's batch size.
      const pgSeconds = ctx.seconds(6, 3);
      limits.single.push(await runPgbench({ databaseUrl: limitUrl, rows: 1, clients, seconds: pgSeconds }));
      limits.batched.push(
        await runPgbench({ databaseUrl: limitUrl, rows: batch, clients, seconds: pgSeconds }),
      );
      ctx.log(
        `pgbench: ${fmt(limits.single.at(-1)?.approvalsPerSecond ?? 0)} approvals/s one per transaction, ${fmt(limits.batched.at(-1)?.approvalsPerSecond ?? 0)} in batches of ${batch}`,
      );
    }

    // Latency at half of this run's saturation (the goal's rate) and at 1,000/s, after the
    // saturation runs: the rate depends on them. They and pgbench leave PostgreSQL work behind,
    // so a checkpoint writes it out first rather than during the measurement.
    const ours = median(saturation.map((s) => s.perSecond));
    const half = Math.round(ours / 2 / 10) * 10;
    const rates = [...new Set([half, 1000])].sort((a, b) => a - b);
    await settle(system.nc);
    await sql(infra.databaseUrl, 'checkpoint');
    const latency = new Map<
      number,
      { decidedP50: number[]; decidedP99: number[]; pendingP99: number[]; lost: number; profiles: Profile[] }
    >();
    for (const rate of rates) {
      const entry = {
        decidedP50: [] as number[],
        decidedP99: [] as number[],
        pendingP99: [] as number[],
        lost: 0,
        profiles: [] as Profile[],
      };
      latency.set(rate, entry);
      for (let run = 0; run < ctx.runs; run++) {
        await settle(system.nc);
        await profiler.start();
        const r = await fixedRate({
          publisher,
          prefix: `rate${rate}r${run}`,
          rate,
          seconds: ctx.seconds(10, 4),
        });
        entry.profiles.push(await profiler.stop());
        const decided = summarize(r.decided);
        entry.decidedP50.push(decided.p50);
        entry.decidedP99.push(decided.p99);
        entry.pendingP99.push(summarize(r.pending).p99);
        entry.lost += r.sent - r.received;
        ctx.log(
          `${rate}/s run ${run + 1}: decided p50 ${fmtMs(decided.p50)} ms, p99 ${fmtMs(decided.p99)} ms`,
        );
      }
    }
    // Each service started again on the migrated database, as a rolling restart or a new
    // replica starts: spawn to its ready line, from the compiled build with the image's flags.
    const firstReady = readyTimes(system);
    const peakRss = rss.stop();
    for (const proc of services(system)) await proc.restart();
    const restartReady = readyTimes(system);

    const single = median(limits.single.map((l) => l.approvalsPerSecond));
    const batched = median(limits.batched.map((l) => l.approvalsPerSecond));
    const total = addProfiles(profiles);
    const approvals = saturation.reduce((sum, s) => sum + s.windowEvents, 0);
    const per = (n: number) => n / approvals;
    const busiest = Object.entries(total.cpu)
      .filter(([name]) => name !== 'bench')
      .sort((a, b) => b[1] - a[1]);

    const throughputRows: (string | number)[][] = [
      [
        'Countersign: approvals/s at saturation (first event per request)',
        fmt(ours),
        saturation.map((s) => fmt(s.perSecond)).join(', '),
        '1.00',
      ],
      [
        `pgbench: the same rows, one approval per transaction (${clients} clients)`,
        fmt(single),
        limits.single.map((l) => fmt(l.approvalsPerSecond)).join(', '),
        fmt(ours / single, 2),
      ],
      [
        `pgbench: the same rows, ${batch} approvals per transaction (${clients} clients)`,
        fmt(batched),
        limits.batched.map((l) => fmt(l.approvalsPerSecond)).join(', '),
        fmt(ours / batched, 2),
      ],
    ];
    const latencyRows = rates.map((rate) => {
      const e = latency.get(rate) as NonNullable<ReturnType<typeof latency.get>>;
      const p = addProfiles(e.profiles);
      const cpu = Object.values(p.cpu).reduce((sum, c) => sum + c, 0);
      return [
        `${fmt(rate)}/s`,
        fmtMs(median(e.decidedP50)),
        fmtMs(median(e.decidedP99)),
        fmtMs(median(e.pendingP99)),
        e.lost,
        fmt(cpu / p.seconds, 2),
      ];
    });
    const profileRows = Object.entries(total.cpu)
      .sort((a, b) => b[1] - a[1])
      .map(([name, cpu]) => {
        const connection = {
          approval: 'approval',
          policy: 'policy',
          notifier: 'countersign-notifier',
          bench: 'bench',
        }[name];
        const msgs = connection ? total.nats[connection] : undefined;
        return [
          name,
          fmt((cpu / approvals) * 1e6, 0),
          fmt(cpu / total.seconds, 2),
          msgs ? fmt(per(msgs.in), 2) : '-',
          msgs ? fmt(per(msgs.out), 2) : '-',
        ];
      });
    const statementRows = total.topStatements.map((s) => [s.query, fmt(per(s.calls), 3)]);

    // What the whole stack costs per approval, and the ceiling two cores put on it.
    const cpuPerApproval = Object.values(total.cpu).reduce((sum, c) => sum + c, 0) / approvals;
    const coresBusy = Object.values(total.cpu).reduce((sum, c) => sum + c, 0) / total.seconds;
    const coresAt = (rate: number) => {
      const p = addProfiles(latency.get(rate)?.profiles ?? []);
      return Object.values(p.cpu).reduce((sum, c) => sum + c, 0) / p.seconds;
    };
    const p99At = (rate: number) => median(latency.get(rate)?.decidedP99 ?? []);
    const p50At = (rate: number) => median(latency.get(rate)?.decidedP50 ?? []);
    const cpuNote =
      `the processes together use ${fmt(cpuPerApproval * 1e6)} µs of CPU per approval (busiest: ${busiest
        .slice(0, 3)
        .map(([n, c]) => `${n} ${fmt((c / approvals) * 1e6)} µs`)
        .join(', ')}; the load generator included), so two cores cap it near ${fmt(2 / cpuPerApproval)}/s; ` +
      `during the runs they had ${fmt(coresBusy, 2)} of the 2 cores (load average ${loadBefore}). Not PostgreSQL's disk: ${fmt(per(total.walSyncs), 3)} WAL fsyncs per approval.`;
    const latencyNote = (rate: number) =>
      `At ${fmt(rate)}/s (${fmt((rate / ours) * 100)} % of saturation) the stack kept ${fmt(coresAt(rate), 2)} of the 2 cores busy; a request waits for CPU behind the others at each of its hops (intake batch, policy, commit with its fsync, outbox relay), and the intake's batches are small at this rate, so each approval costs more than at saturation.`;
    const goals: Goal[] = [
      {
        goal: 'sustained throughput ≥ 1.0× pgbench writing the same rows one approval per transaction (fsync on)',
        measured: `${fmt(ours / single, 2)}× (${fmt(ours)} vs ${fmt(single)} approvals/s; ${fmt((ours / batched) * 100)} % of pgbench batched)`,
        met: ours >= single,
        note: `CPU: ${cpuNote}`,
      },
      {
        goal: `p99 publish → decided ≤ 50 ms at half the measured saturation (${fmt(half)}/s)`,
        measured: `p99 ${fmtMs(p99At(half))} ms (p50 ${fmtMs(p50At(half))} ms)`,
        met: p99At(half) <= 50,
        ...(p99At(half) <= 50 ? {} : { note: latencyNote(half) }),
      },
      {
        goal: 'p99 publish → decided ≤ 50 ms at 1,000/s, on a day when saturation is above 2,000/s',
        measured: `p99 ${fmtMs(p99At(1000))} ms (p50 ${fmtMs(p50At(1000))} ms); saturation ${fmt(ours)}/s`,
        met: ours > 2000 ? p99At(1000) <= 50 : 'n/a',
        ...(ours > 2000 && p99At(1000) <= 50
          ? {}
          : {
              note:
                ours > 2000
                  ? latencyNote(1000)
                  : `Saturation was ${fmt(ours)}/s today, not above 2,000/s, so 1,000/s is ${fmt((1000 / ours) * 100)} % of it and this goal does not apply; ${latencyNote(1000)}`,
            }),
      },
    ];
    const rssRows = Object.entries(peakRss).map(([name, bytes]) => [
      name,
      fmt(bytes / MIB),
      fmt(bytes / 1e6),
      fmt(firstReady[name] ?? Number.NaN),
      fmt(restartReady[name] ?? Number.NaN),
    ]);
    const maxRss = Math.max(...Object.values(peakRss));
    // 120 MB taken as 120 × 10⁶ bytes, the stricter reading.
    goals.push({
      goal: 'peak RSS of each service under this load ≤ 120 MB, from the compiled build',
      measured: Object.entries(peakRss)
        .map(([name, bytes]) => `${name} ${fmt(bytes / 1e6)} MB`)
        .join(', '),
      met: maxRss <= 120e6,
      note: `Peak RSS, sampled every 250 ms, with the image's Node flags (${imageNodeOptions().slice(1).join(' ')}): a Node process holds about 45 MB before it runs our code (V8, its built-ins, the code of the dependencies), the young generation at most ${youngGenerationMb()} MB, and the policy service the WASM memory of its compiled policy.`,
    });
    const maxReady = Math.max(...Object.values(restartReady));
    goals.push({
      goal: 'each service ready ≤ 1 s after start, from the compiled build',
      measured: Object.entries(restartReady)
        .map(([name, ms]) => `${name} ${fmt(ms)} ms`)
        .join(', '),
      met: maxReady <= 1000,
      note: `Spawn to the ready line, on the migrated database (a restart or a new replica), right after the load stopped; the first start, which also migrated an empty database, is in the memory table. Most of it is Node loading the service's modules (the first log line comes about half a second after the spawn on a quiet machine), then connecting to NATS and PostgreSQL and creating the consumers.`,
    });

    return {
      id: 'e2e',
      title: '2. End-to-end approvals',
      tables: [
        {
          title: `Sustained throughput (median of ${ctx.runs} run(s) of ${seconds} s after a ${ctx.seconds(2, 1)} s ramp; pgbench runs alternate with ours)`,
          columns: ['what', 'approvals/s', 'per run', 'ratio'],
          rows: throughputRows,
        },
        {
          title: 'Latency from the scheduled publish to the first event (ms; open loop, median of the runs)',
          columns: [
            'rate',
            'decided p50',
            'decided p99',
            'pending p99',
            'lost',
            'cores busy (all processes)',
          ],
          rows: latencyRows,
        },
        {
          title: `Cost per approval at saturation (${fmt(approvals)} approvals over ${fmt(total.seconds, 1)} s)`,
          columns: [
            'process',
            'CPU µs / approval',
            'cores busy',
            'NATS msgs sent / approval',
            'NATS msgs received / approval',
          ],
          rows: profileRows,
        },
        {
          title: `Approval database per approval: ${fmt(per(total.commits), 3)} commits, ${fmt(per(total.statements), 2)} statements (round trips); the most frequent:`,
          columns: ['statement', 'calls / approval'],
          rows: statementRows,
        },
        {
          title: 'Peak RSS during this scenario, and ready time (spawn to the ready line)',
          columns: ['service', 'peak RSS MiB', 'peak RSS MB', 'ready ms, first start', 'ready ms, restart'],
          rows: rssRows,
        },
      ],
      goals,
      notes: [
        `The mix: ${MIX.autoApproved * 100} % auto-approved, ${MIX.denied * 100} % denied, ${MIX.invalid * 100} % invalid (decided at once), ${MIX.needsPeople * 100} % pending for people. Throughput counts each request's first event (decided, or pending).`,
        'Saturation keeps at most 4,000 requests published but unanswered, so the service always has work queued and the stream stays bounded.',
        `pgbench writes what the service writes for an auto-approved request (approval row, two audit rows, outbox row) in one prepared statement per transaction, with ${clients} clients (the intake's concurrency); the service additionally reads for idempotency, computes hash chains, calls the policy, and marks each outbox row published.`,
        'Everything shares 2 cores: the services, nats-server, PostgreSQL, and this load generator ("bench" in the profile).',
        `The notifier records every event in its own database and sends the audit webhook of channels.example.yaml (decided, high or critical risk) to a local receiver: ${fmt(system.webhook?.received() ?? 0)} webhooks in this scenario. After each saturation run the notifier and intake queues were empty after ${catchUp.map((s) => fmt(s, 1)).join(', ')} s.`,
      ],
      data: {
        saturation,
        limits,
        catchUp,
        latency: Object.fromEntries(latency),
        profile: total,
        approvals,
        peakRss,
        ready: { first: firstReady, restart: restartReady },
      },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cleanup.run();
  }
}
