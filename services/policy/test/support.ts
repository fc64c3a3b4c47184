/** Helpers shared by the policy service's unit and integration tests. */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { callEndpoint } from '@countersign/client';
import type { Approval, ApprovalRequestInput, PolicyDecision } from '@countersign/contracts';
import { REPO_ROOT, tool } from '@countersign/devinfra';
import { createLogger, Directory, type Logger } from '@countersign/runtime';
import { TEST_DIRECTORY_FILE } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll } from 'vitest';
import { buildBundle, readBundle } from '../src/bundle.js';
import { DEFAULT_POLICY_DIR } from '../src/config.js';
import { type LoadOptions, PolicyEngine } from '../src/engine.js';
import { type PolicyDirectory, policyDirectory } from '../src/roles.js';

export const opaBin = (): string => tool('opa');

/** The test directory (the one every harness-started service reads), as the policy sees it. */
export const TEST_DIRECTORY: PolicyDirectory = policyDirectory(
  Directory.parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8')),
);

/** A directory for one test: these roles, under a revision naming them. */
export function rolesDirectory(roles: Record<string, string[]>, revision = 'test'): PolicyDirectory {
  return { revision, roles };
}

// One root per test file, created and scheduled for removal when the file imports this
// module: vitest only honours afterAll registered while a file is collected, never from inside
// a hook or a test, so tempDir() (called from tests) must not register its own.
const TEMP_ROOT = mkdtempSync(join(tmpdir(), 'countersign-policy-test-'));
afterAll(() => rmSync(TEMP_ROOT, { recursive: true, force: true }));

/** A temporary directory, removed with the others after the test file. */
export function tempDir(label: string): string {
  return mkdtempSync(join(TEMP_ROOT, `${label}-`));
}

/** A copy of the shipped policies/ that a test may edit. */
export function copyOfPolicies(): string {
  const dir = tempDir('copy');
  cpSync(DEFAULT_POLICY_DIR, dir, { recursive: true });
  return dir;
}

/** Writes `files` (path -> content) into a fresh directory. */
export function policyDir(files: Record<string, string>): string {
  const dir = tempDir('src');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Rewrites one threshold in a policy copy's data.json. */
export function setThreshold(dir: string, name: string, value: number): void {
  const file = join(dir, 'countersign/data.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { thresholds: Record<string, number> };
  data.thresholds[name] = value;
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

export async function buildBytes(dir: string, entrypoints?: readonly string[]): Promise<Uint8Array> {
  return (await buildBundle({ dir, opaBin: opaBin(), ...(entrypoints ? { entrypoints } : {}) })).bytes;
}

export async function loadEngine(dir: string, options?: LoadOptions): Promise<PolicyEngine> {
  return PolicyEngine.load(readBundle(await buildBytes(dir)), options);
}

/** An evaluate request with the documented defaults filled in. */
export function evaluateRequest(overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  return {
    action_id: 'p1',
    action_type: 'payment',
    description: 'x',
    requested_by: 'dave',
    ...overrides,
  };
}

export interface LoadSample {
  /** performance.now() when the request was sent and when its reply arrived. */
  sent: number;
  received: number;
  revision: string;
  outcome: string;
}

export interface LoadResult {
  samples: LoadSample[];
  failures: unknown[];
}

/**
 * Keeps `concurrency` evaluate requests in flight until stopped, recording every reply and
 * every failure: the proof that a hot reload drops nothing.
 */
export function startLoad(nc: NatsConnection, request: ApprovalRequestInput, concurrency = 8) {
  const samples: LoadSample[] = [];
  const failures: unknown[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      const sent = performance.now();
      try {
        const d = await callEndpoint(nc, 'evaluate', request, { timeout: 5000 });
        samples.push({ sent, received: performance.now(), revision: d.revision, outcome: d.outcome });
      } catch (err) {
        failures.push(err);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    samples,
    failures,
    async stop(): Promise<LoadResult> {
      running = false;
      await Promise.all(workers);
      return { samples, failures };
    },
  };
}

/** A logger whose JSON lines are kept for assertions. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ service: 'policy', level, destination }), lines };
}

/** A pending payment of 1,500 by billing-job under `policy`, for authorize tests; `overrides` win. */
export function pendingApproval(policy: PolicyDecision, overrides: Partial<Approval> = {}): Approval {
  const now = new Date().toISOString();
  return {
    action_id: 'p1',
    action_type: 'payment',
    description: 'x',
    context: { amount: 1500 },
    requested_by: 'billing-job',
    run_id: null,
    status: 'pending',
    created_at: now,
    expires_at: now,
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    policy,
    votes: [],
    required_approvals: 1,
    ...overrides,
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pnpm policy <args>` (src/cli.ts) from the repository root with `env` added. */
export function policyCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'services/policy/src/cli.ts', ...args],
      { cwd: REPO_ROOT, env: { ...process.env, OPA_BIN: opaBin(), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}
