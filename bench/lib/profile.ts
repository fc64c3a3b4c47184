/**
 * What a measured window cost, to divide by the approvals it produced: CPU per process, NATS
 * messages per client connection (nats-server's /connz), and in the approval service's
 * database the commits (pg_stat_database) and statements (pg_stat_statements), each statement
 * being one client round trip.
 */
import pg from 'pg';
import { CpuMeter, type Watched } from './procstat.js';

export interface NatsCounts {
  [connectionName: string]: { in: number; out: number };
}

/** Adds messages to a connection's counts (connections of the same name add up). */
export function addNatsCounts(counts: NatsCounts, name: string, sent: number, received: number): void {
  const entry = counts[name] ?? { in: 0, out: 0 };
  entry.in += sent;
  entry.out += received;
  counts[name] = entry;
}

async function natsCounts(monitorUrl: string): Promise<NatsCounts> {
  const res = await fetch(`${monitorUrl}/connz?limit=1024`);
  const body = (await res.json()) as { connections?: { name?: string; in_msgs: number; out_msgs: number }[] };
  const counts: NatsCounts = {};
  for (const c of body.connections ?? []) {
    addNatsCounts(counts, c.name || '(unnamed)', c.in_msgs, c.out_msgs);
  }
  return counts;
}

export interface StatementCount {
  query: string;
  calls: number;
}

export interface Profile {
  seconds: number;
  /** CPU seconds per process (and "bench", this process). */
  cpu: Record<string, number>;
  /** NATS messages sent (in) and received (out) per client connection name. */
  nats: NatsCounts;
  commits: number;
  rollbacks: number;
  /** WAL flushes to disk (pg_stat_wal.wal_sync), the whole server: fsyncs that commits waited for. */
  walSyncs: number;
  statements: number;
  /** The most frequent statements, for the report. */
  topStatements: StatementCount[];
}

export class Profiler {
  #cpu: CpuMeter;
  #client: pg.Client;
  #natsBefore: NatsCounts = {};
  #xactBefore = { commits: 0, rollbacks: 0, walSyncs: 0 };
  #started = 0;

  private constructor(
    watched: readonly Watched[],
    client: pg.Client,
    private readonly monitorUrl: string,
  ) {
    this.#cpu = new CpuMeter(watched);
    this.#client = client;
  }

  /** `databaseUrl`: the approval service's database (pg_stat_statements installed there). */
  static async open(watched: readonly Watched[], databaseUrl: string, monitorUrl: string): Promise<Profiler> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-profiler' });
    await client.connect();
    return new Profiler(watched, client, monitorUrl);
  }

  async #xact(): Promise<{ commits: number; rollbacks: number; walSyncs: number }> {
    // The counters are cumulative and reported by backends with a delay: force a fresh read.
    await this.#client.query('select pg_stat_clear_snapshot()');
    const result = await this.#client.query<{ commits: string; rollbacks: string; syncs: string }>(
      `select xact_commit as commits, xact_rollback as rollbacks, (select wal_sync from pg_stat_wal) as syncs
         from pg_stat_database where datname = current_database()`,
    );
    const row = result.rows[0];
    return {
      commits: Number(row?.commits ?? 0),
      rollbacks: Number(row?.rollbacks ?? 0),
      walSyncs: Number(row?.syncs ?? 0),
    };
  }

  async start(): Promise<void> {
    await this.#client.query('select pg_stat_statements_reset()');
    this.#xactBefore = await this.#xact();
    this.#natsBefore = await natsCounts(this.monitorUrl);
    this.#cpu.start();
    this.#started = performance.now();
  }

  async stop(): Promise<Profile> {
    const seconds = (performance.now() - this.#started) / 1000;
    const cpu = this.#cpu.stop();
    const natsAfter = await natsCounts(this.monitorUrl);
    const nats: NatsCounts = {};
    for (const [name, after] of Object.entries(natsAfter)) {
      const before = this.#natsBefore[name] ?? { in: 0, out: 0 };
      nats[name] = { in: after.in - before.in, out: after.out - before.out };
    }
    // Busy backends flush their counters about once a second, at the start as at the end of
    // the window: over a window of many seconds the lag cancels out.
    const xact = await this.#xact();
    const statements = await this.#client.query<{ query: string; calls: string }>(
      `select query, calls from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
          and query not like '%pg_stat%'
        order by calls desc`,
    );
    const rows = statements.rows.map((r) => ({
      query: r.query.replace(/\s+/g, ' ').slice(0, 120),
      calls: Number(r.calls),
    }));
    return {
      seconds,
      cpu,
      nats,
      commits: xact.commits - this.#xactBefore.commits,
      rollbacks: xact.rollbacks - this.#xactBefore.rollbacks,
      walSyncs: xact.walSyncs - this.#xactBefore.walSyncs,
      statements: rows.reduce((sum, r) => sum + r.calls, 0),
      topStatements: rows.slice(0, 12),
    };
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}
