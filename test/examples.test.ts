/**
 * The examples in examples/ against the real services (policy and approval as child processes,
 * a real nats-server and PostgreSQL): each .ts example runs as its own process, as a reader would
 * run it, and the Go example is built with `go build` and run, while this file plays the approver
 * over NATS. The admin session's NATS CLI lines run in order with the real `nats` binary.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { callEndpoint } from '@countersign/client';
import {
  DecideRequest,
  Endpoints,
  ErrorBody,
  EvaluateRequest,
  isErrorCode,
  StatsResponse,
} from '@countersign/contracts';
import { freePort, REPO_ROOT, tool } from '@countersign/devinfra';
import { call, TEST_AUDIT_KEY, testSigningKeysFile, waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { runVerifyAudit } from '../services/approval/src/verify-audit.js';
import { startSystem } from './support.js';

const sys = await startSystem('examples');
// Unique per run: with a shared nats-server (NATS_URL) the intake's de-duplication window and the
// event stream outlive this file's database, so ids must not repeat between runs.
const tag = Date.now().toString(36);
const runFile = promisify(execFile);

interface Run {
  /** stdout and stderr lines so far, in arrival order. */
  lines: string[];
  /** Resolves with the first line matching, or rejects when the example exits without one. */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; output: string }>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Runs a process and collects its stdout and stderr lines as they arrive. */
function runProcess(label: string, command: string, args: string[], options: SpawnOptions = {}): Run {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffer += chunk;
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
      for (const wake of waiters) wake();
    });
    stream?.on('end', () => {
      if (buffer) lines.push(buffer);
    });
  }
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('close', (code) => {
      children.delete(child);
      done = true;
      for (const wake of waiters) wake();
      resolve({ code, output: lines.join('\n') });
    });
  });
  const line = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => pattern.test(l));
        if (found === undefined && !done) return;
        waiters.delete(check);
        if (found !== undefined) resolve(found);
        else reject(new Error(`${label} exited without printing ${pattern}:\n${lines.join('\n')}`));
      };
      waiters.add(check);
      check();
    });
  return { lines, line, exited };
}

/** The identity each example connects as (its requesting system; auditing is ops'). */
const EXAMPLE_IDENTITY: Record<string, string> = {
  quickstart: 'billing-job',
  'deploy-pipeline': 'ci-pipeline',
  'payment-job': 'payment-job',
  'verify-audit': 'ops',
};

/** Runs `node --import tsx examples/<name>.ts` from the repository root, as the docs say. */
function runExample(name: string, args: string[] = [], env: Record<string, string> = {}): Run {
  return runProcess(name, process.execPath, ['--import', 'tsx', `examples/${name}.ts`, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...sys.nats.env(EXAMPLE_IDENTITY[name] ?? 'ops'), ...env },
  });
}

/**
 * The vote a printed `nats --context <who> req approval.decide.<who> '<json>'` line casts: its
 * body, with the decider its subject names.
 */
function decideBody(line: string): DecideRequest {
  const match = line.match(/nats --context (\S+) req approval\.decide\.(\S+) '([^']+)'/);
  if (!match || match[1] !== match[2]) throw new Error(`not a decide command: ${line}`);
  return DecideRequest.parse({ ...JSON.parse(match[3] as string), decided_by: match[2] });
}

/** Waits until the approval exists and is pending: a human cannot decide it earlier either. */
async function pending(actionId: string): Promise<void> {
  await waitUntil(
    async () =>
      (await callEndpoint(sys.nc, 'get', { action_id: actionId }).catch(() => undefined))?.status ===
      'pending',
    { message: `${actionId} to be pending` },
  );
}

/** Waits until the approval exists, whatever its status. */
async function recorded(actionId: string): Promise<void> {
  await waitUntil(() => callEndpoint(sys.nc, 'get', { action_id: actionId }).then(() => true), {
    message: `${actionId} to be recorded`,
  });
}

/** Plays the approver: runs a printed decide command over NATS once its approval is pending. */
async function approveAsPrinted(line: string, override: Partial<DecideRequest> = {}) {
  const body = { ...decideBody(line), ...override };
  await pending(body.action_id);
  return call(sys.nc, 'decide', body);
}

async function history(actionId: string) {
  return (await callEndpoint(sys.nc, 'get', { action_id: actionId })).history;
}

describe('examples/quickstart.ts (the README snippet)', () => {
  it('checks the policy, requests, and pays once the printed command approves', async () => {
    const run = runExample('quickstart');
    const command = await run.line(/^\s+nats --context \S+ req approval\.decide\./);
    expect(run.lines).toContain('policy: needs_approval by finance');
    expect(decideBody(command)).toMatchObject({ approved: true, decided_by: 'frank' });
    await approveAsPrinted(command);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(output).toContain('approved by frank: paying invoice 42');
  });
});

describe('examples/deploy-pipeline.ts', () => {
  it('deploys to staging at once: the default policy auto-approves it, and the execution is reported', async () => {
    const { code, output } = await runExample('deploy-pipeline', [
      '--environment',
      'staging',
      '--run-id',
      `st1-${tag}`,
    ]).exited;
    expect(code, output).toBe(0);
    expect(output).toContain('[approval] policy says auto_approve: no policy rule matched');
    expect(output).toContain('[deploy] web v1.4.2 is live in staging');
    expect(output).toContain('execution reported: executed');
    expect(output).not.toContain('nats req approval.decide');
    const events = await history(`deploy-web-staging-st1-${tag}`);
    expect(events.find((e) => e.event === 'reported')?.data).toMatchObject({ outcome: 'executed' });
  });

  it('waits for ops before deploying to production; the printed command approves it', async () => {
    const run = runExample('deploy-pipeline', ['--run-id', `pr1-${tag}`]);
    const command = await run.line(/^\s+nats --context \S+ req approval\.decide\./);
    expect(decideBody(command)).toMatchObject({
      action_id: `deploy-web-production-pr1-${tag}`,
      approved: true,
      decided_by: 'bob',
    });
    expect(run.lines.join('\n')).toContain('needs 1 approval(s) from ops: production environment');
    // Not deployed while pending.
    expect(run.lines.some((l) => l.startsWith('[deploy]'))).toBe(false);
    await approveAsPrinted(command);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(output).toContain('[deploy] web v1.4.2 is live in production');
    expect(output).toContain(
      `[audit] deploy-web-production-pr1-${tag}: approved by bob (release checked); execution reported: executed`,
    );
  });

  it('never deploys when ops rejects, and exits non-zero', async () => {
    const run = runExample('deploy-pipeline', ['--run-id', `pr2-${tag}`]);
    await approveAsPrinted(await run.line(/^\s+nats --context \S+ req approval\.decide\./), {
      approved: false,
      reason: 'change freeze',
    });
    const { code, output } = await run.exited;
    expect(code, output).toBe(1);
    expect(output).toContain('[approval] refused by bob: change freeze. Not deployed.');
    expect(output).not.toContain('[deploy]');
    expect((await history(`deploy-web-production-pr2-${tag}`)).some((e) => e.event === 'reported')).toBe(
      false,
    );
  });

  it('reports a failed deploy step to the approval history', async () => {
    const { code, output } = await runExample('deploy-pipeline', [
      '--environment',
      'staging',
      '--run-id',
      `st2-${tag}`,
      '--fail',
    ]).exited;
    expect(code, output).toBe(1);
    expect(output).toContain("(reported to the approval's history as failed)");
    const reported = (await history(`deploy-web-staging-st2-${tag}`)).find((e) => e.event === 'reported');
    expect(reported?.data).toMatchObject({ outcome: 'failed' });
  });

  it('says how to start the system when NATS is not there', async () => {
    const { code, output } = await runExample('deploy-pipeline', [], {
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    }).exited;
    expect(code).toBe(1);
    expect(output).toMatch(/error: cannot connect to NATS at .*bash scripts\/run\.sh/);
  });
});

describe('examples/payment-job.ts', () => {
  it('pays what is approved: auto-approved, one finance approver, two, and a policy denial', async () => {
    const run = runExample('payment-job', ['--run', `r1-${tag}`]);
    const approvals = [
      run.line(new RegExp(`approval\\.decide\\.frank .*pay-inv-103-r1-${tag}`)),
      run.line(new RegExp(`approval\\.decide\\.frank .*pay-inv-104-r1-${tag}`)),
      run.line(new RegExp(`approval\\.decide\\.alice .*pay-inv-104-r1-${tag}`)),
    ];
    for (const line of await Promise.all(approvals)) await approveAsPrinted(line);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(output).toMatch(/inv-101 +120 EUR {2}paid \(auto-approved by policy\)/);
    expect(output).toMatch(/inv-102 +480 EUR {2}paid \(auto-approved by policy\)/);
    expect(output).toMatch(/inv-103 +1500 EUR {2}needs 1 approval\(s\) from finance/);
    expect(output).toMatch(/inv-103 +1500 EUR {2}paid \(approved by frank\)/);
    expect(output).toMatch(/inv-104 +25000 EUR {2}needs 2 approval\(s\) from finance/);
    expect(output).toMatch(/inv-104 +25000 EUR {2}paid \(approved by frank and alice\)/);
    expect(output).toMatch(
      /inv-105 +2000000 EUR {2}not paid: denied by policy: amount 2000000 > maximum amount/,
    );
    expect(output).toContain('Done: 4 paid, 1 not paid, 0 pending.');
  });

  it('leaves payments pending when its wait runs out, and a resumed run pays nothing twice', async () => {
    const first = await runExample('payment-job', ['--run', `r2-${tag}`, '--wait', '1']).exited;
    expect(first.code, first.output).toBe(3);
    expect(first.output).toMatch(/inv-103 +1500 EUR {2}still pending after 1 s/);
    expect(first.output).toContain('Done: 2 paid, 1 not paid, 2 pending.');
    expect(first.output).toContain(`rerun with --run r2-${tag}`);
    // The caller's timeout left the approvals untouched.
    for (const id of [`pay-inv-103-r2-${tag}`, `pay-inv-104-r2-${tag}`]) {
      expect((await callEndpoint(sys.nc, 'get', { action_id: id })).status).toBe('pending');
    }

    await call(sys.nc, 'decide', {
      action_id: `pay-inv-103-r2-${tag}`,
      approved: true,
      decided_by: 'frank',
    });
    await call(sys.nc, 'decide', {
      action_id: `pay-inv-104-r2-${tag}`,
      approved: false,
      decided_by: 'alice',
      reason: 'lease not signed yet',
    });
    const resumed = await runExample('payment-job', ['--run', `r2-${tag}`, '--wait', '10']).exited;
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toMatch(/inv-101 +120 EUR {2}already paid by an earlier run/);
    expect(resumed.output).toMatch(/inv-103 +1500 EUR {2}paid \(approved by frank\)/);
    expect(resumed.output).toMatch(/inv-104 +25000 EUR {2}not paid: rejected by alice: lease not signed yet/);
    expect(resumed.output).toContain('Done: 3 paid, 2 not paid, 0 pending.');
    // Each paid invoice has exactly one execution report.
    for (const id of [`pay-inv-101-r2-${tag}`, `pay-inv-103-r2-${tag}`]) {
      expect((await history(id)).filter((e) => e.event === 'reported')).toHaveLength(1);
    }
  });
});

describe('examples/verify-audit.ts', () => {
  it('links every chain the service wrote, and finds a removed event; an edited one is found with the key', async () => {
    const all = await runExample('verify-audit', ['--all']).exited;
    expect(all.code, all.output).toBe(0);
    const count = Number(
      /^(\d+) approval\(s\), \d+ audit events: every chain links \(\d+ keyed: .*pnpm verify-audit\)$/m.exec(
        all.output,
      )?.[1],
    );
    expect(count).toBeGreaterThanOrEqual(5);

    // Only someone who can switch the append-only trigger off can edit history. The content of a
    // keyed event needs the audit key to check: pnpm verify-audit finds the edit, naming the event.
    const target = `deploy-web-staging-st1-${tag}`;
    const client = await sys.pool.connect();
    try {
      await client.query('begin');
      await client.query('alter table approval.audit_events disable trigger audit_events_append_only');
      await client.query(
        "update approval.audit_events set actor = 'mallory' where action_id = $1 and seq = 1",
        [target],
      );
      await client.query('alter table approval.audit_events enable trigger audit_events_append_only');
      await client.query('commit');
    } finally {
      client.release();
    }
    const lines: string[] = [];
    const verifyEnv = {
      ...sys.nats.env('ops'),
      DATABASE_URL: sys.db.url,
      AUDIT_KEY: TEST_AUDIT_KEY,
      SIGNING_KEYS_FILE: testSigningKeysFile(),
    };
    expect(await runVerifyAudit([target], verifyEnv, (line) => lines.push(line))).toBe(1);
    expect(lines[0]).toBe(`${target}: event 1: hash does not match the content`);

    // A removed event breaks the chain for anyone who reads it.
    const removed = await sys.pool.connect();
    try {
      await removed.query('begin');
      await removed.query('alter table approval.audit_events disable trigger audit_events_append_only');
      await removed.query('delete from approval.audit_events where action_id = $1 and seq = 1', [target]);
      await removed.query('alter table approval.audit_events enable trigger audit_events_append_only');
      await removed.query('commit');
    } finally {
      removed.release();
    }
    const one = await runExample('verify-audit', [target]).exited;
    expect(one.code, one.output).toBe(1);
    expect(one.output).toContain(`${target}: BROKEN at event 2: expected seq 1`);
  });
});

// ---- examples/admin-session.md ------------------------------------------------------------

interface SessionLine {
  line: string;
  args: string[];
  /** The error code the line's comment promises (`# forbidden: ...`), if any. */
  code?: string;
}

/** Splits a shell line into words: bare words and single-quoted strings; `#` starts a comment. */
function shellWords(line: string): { words: string[]; comment: string } {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
    } else if (line[i] === '#') {
      return { words, comment: line.slice(i + 1).trim() };
    } else if (line[i] === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote: ${line}`);
      words.push(line.slice(i + 1, end));
      i = end + 1;
    } else {
      const match = /^[^\s']+/.exec(line.slice(i)) as RegExpExecArray;
      words.push(match[0]);
      i += match[0].length;
    }
  }
  return { words, comment: '' };
}

function sessionLines(): SessionLine[] {
  const doc = readFileSync(join(REPO_ROOT, 'examples/admin-session.md'), 'utf8');
  return [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((block) => (block[1] ?? '').split('\n'))
    .filter((line) => line.startsWith('nats '))
    .map((line) => {
      const { words, comment } = shellWords(line);
      const first = comment.split(/[:\s]/)[0] ?? '';
      return { line, args: words.slice(1), ...(isErrorCode(first) ? { code: first } : {}) };
    });
}

/** The request schema for a subject the session sends to. */
function requestSchema(subject: string) {
  if (subject.startsWith('approval.requested.')) return EvaluateRequest;
  // Actor-bound commands are sent to `<subject>.<identity>`.
  const endpoint = Object.values(Endpoints).find(
    (e) => e.subject === subject || (e.actor && subject.startsWith(`${e.subject}.`)),
  );
  if (!endpoint) throw new Error(`no command on ${subject}`);
  return endpoint.request;
}

describe('examples/admin-session.md', () => {
  const lines = sessionLines();

  it('sends only payloads the contract accepts', () => {
    expect(lines.length).toBeGreaterThanOrEqual(15);
    const sent = lines.filter((l) => l.args[0] === 'req' || l.args[0] === 'pub');
    expect(sent.length).toBeGreaterThanOrEqual(12);
    for (const { line, args } of sent) {
      const [, subject = '', body = ''] = args;
      const parsed = requestSchema(subject).safeParse(JSON.parse(body));
      expect(parsed.success, `${line}\n${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      if (subject.startsWith('approval.requested.')) {
        // The intake de-duplicates on Nats-Msg-Id: it must be the action_id.
        const id = (JSON.parse(body) as { action_id: string }).action_id;
        expect(args.slice(3), line).toEqual(['-H', `Nats-Msg-Id:${id}`]);
      }
    }
  });

  it('runs in order with the NATS CLI and answers as documented', async () => {
    // As the operators' user (full access), which the session's commands need.
    const ops = sys.nats.login('ops');
    const opsServer = [
      '--server',
      sys.nats.url,
      ...(ops ? ['--user', ops.user, '--password', ops.password] : []),
    ];
    // Fresh action_ids, so a shared nats-server's de-duplication window never sees them twice.
    const fresh = (text: string) => text.replace(/\b(refund-1234|deploy-api-88)\b/g, `$1-${tag}`);
    const nats = (args: string[]) =>
      runFile(tool('nats'), [...opsServer, ...args.map(fresh)], { timeout: 15_000 });

    const sub = lines.find((l) => l.args[0] === 'sub');
    expect(sub?.args).toEqual(['sub', 'approval.decided.>']);
    const watcher = runProcess('nats sub', tool('nats'), [
      ...opsServer,
      ...(sub?.args ?? []),
      '--count',
      '2',
    ]);
    await watcher.line(/Subscribing on approval\.decided\.>/);

    const replies: { line: string; body: unknown; stdout: string }[] = [];
    for (const { line, args, code } of lines) {
      // The context the session selects is the ops login the test passes itself (opsServer).
      if (args[0] === 'sub' || args[0] === 'context') continue;
      const payload = args[2] ? fresh(args[2]) : '';
      if (args[1]?.startsWith('approval.decide.')) {
        // The intake is asynchronous: wait until a request published a moment ago is recorded.
        await recorded((JSON.parse(payload) as { action_id: string }).action_id);
      }
      const { stdout } = await nats(args);
      if (args[0] !== 'req') {
        replies.push({ line, body: undefined, stdout });
        continue;
      }
      const body: unknown = JSON.parse(stdout.trim());
      const error = ErrorBody.safeParse(body);
      if (code) {
        expect(error.data?.error.code, `${line}\n${stdout}`).toBe(code);
      } else {
        expect(error.success, `${line}\n${stdout}`).toBe(false);
      }
      replies.push({ line, body, stdout });
    }

    const out = (pattern: RegExp) => replies.find((r) => pattern.test(r.line)) as (typeof replies)[number];
    expect(out(/^nats micro ls/).stdout).toMatch(/approval[\s\S]*policy|policy[\s\S]*approval/);
    expect(out(/^nats micro info approval/).stdout).toContain('Subject: approval.decide');
    expect(out(/^nats req policy\.evaluate/).body).toMatchObject({
      outcome: 'needs_approval',
      approver_roles: ['finance'],
    });
    expect(out(/^nats req approval\.requested/).body).toMatchObject({
      stream: 'APPROVAL_REQUESTS',
      duplicate: true,
    });
    expect(out(/# forbidden: self_approval/).body).toMatchObject({
      error: { details: { reasons: [{ code: 'self_approval' }] } },
    });
    expect(out(/# forbidden: missing_role/).body).toMatchObject({
      error: { details: { reasons: [{ code: 'missing_role' }] } },
    });
    expect(out(/"decided_by":"frank"/).body).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(out(/"decided_by":"bob","reason"/).body).toMatchObject({ status: 'rejected', decided_by: 'bob' });
    expect(
      StatsResponse.parse(out(/^nats req approval\.stats/).body).by_status.rejected,
    ).toBeGreaterThanOrEqual(1);

    const watched = await watcher.exited;
    expect(watched.code, watched.output).toBe(0);
    expect(watched.output).toContain(`Received on "approval.decided.refund-1234-${tag}"`);
    expect(watched.output).toContain(`Received on "approval.decided.deploy-api-88-${tag}"`);
  });
});

describe('examples/go (raw NATS, no SDK)', () => {
  // Go's module and build caches under the countersign cache root (as install-tools.sh keeps its
  // tools): the first run downloads the pinned nats.go from the Go module proxy, later runs reuse
  // it. GOTOOLCHAIN=local: build with the Go on the PATH, never download another toolchain.
  const cacheRoot =
    process.env.COUNTERSIGN_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'countersign');
  const goEnv = {
    ...process.env,
    GOMODCACHE: join(cacheRoot, 'go', 'mod'),
    GOCACHE: join(cacheRoot, 'go', 'build'),
    GOFLAGS: '-modcacherw',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
  const dir = join(REPO_ROOT, 'examples', 'go');
  const out = mkdtempSync(join(tmpdir(), 'countersign-go-example-'));
  const binary = join(out, 'go-requester');
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const runGo = (actionId: string) =>
    runProcess('go-requester', binary, ['-action-id', actionId, '-timeout', '2m'], {
      env: { ...process.env, ...sys.nats.env('billing-job') },
    });

  it('is gofmt-formatted and builds with go build', async () => {
    const { stdout } = await runFile('gofmt', ['-l', '.'], { cwd: dir, env: goEnv });
    expect(stdout.trim(), 'files gofmt would change').toBe('');
    await runFile('go', ['build', '-trimpath', '-o', binary, '.'], { cwd: dir, env: goEnv });
  }, 600_000);

  it('checks the policy, requests durably, waits by push and prints the approval', async () => {
    const actionId = `go-pay-${tag}`;
    const run = runGo(actionId);
    const command = await run.line(/^\s+nats --context \S+ req approval\.decide\./);
    expect(run.lines).toContain('policy: needs_approval by [finance]');
    expect(run.lines.some((l) => l.startsWith(`requested ${actionId} (intake sequence `))).toBe(true);
    expect(decideBody(command)).toMatchObject({ action_id: actionId, approved: true, decided_by: 'frank' });
    await approveAsPrinted(command);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(output).toContain('approved by frank: paying invoice 42');
    // Requested under its identity's subject, decided under frank's: the record names both.
    const stored = await callEndpoint(sys.nc, 'get', { action_id: actionId });
    expect([stored.requested_by, stored.decided_by]).toEqual(['billing-job', 'frank']);
  });

  it('exits 1 on a rejection, and reads a decision made before it started from the stream', async () => {
    const actionId = `go-rej-${tag}`;
    const first = runGo(actionId);
    await approveAsPrinted(await first.line(/^\s+nats --context \S+ req approval\.decide\./), {
      approved: false,
      reason: 'duplicate invoice',
    });
    const rejected = await first.exited;
    expect(rejected.code, rejected.output).toBe(1);
    expect(rejected.output).toContain('not paid: rejected by frank (duplicate invoice)');

    // The same action_id again: the intake de-duplicates it, and the decision is already in the
    // stream (no event will come on the subscription), so only the last-per-subject read sees it.
    const again = await runGo(actionId).exited;
    expect(again.code, again.output).toBe(1);
    expect(again.output).toContain('not paid: rejected by frank (duplicate invoice)');
  });
});
