/**
 * Replay against real history: requests recorded by the real approval service (with the real
 * policy service deciding them) are re-evaluated by the live policy and a candidate, and the
 * report names exactly the decisions the candidate changes.
 */
import { readFileSync } from 'node:fs';
import type { ApprovalRequestInput } from '@countersign/contracts';
import { Directory } from '@countersign/runtime';
import {
  call,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
} from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_DIR } from '../src/config.js';
import { type ReplayReport, replay, storedPolicyInputs } from '../src/replay.js';
import { policyDirectory } from '../src/roles.js';
import { copyOfPolicies, loadEngine, policyCli, setThreshold } from './support.js';

const [db, nats] = await Promise.all([useTestDatabase('replay'), useTestNats()]);
const env = { NATS_URL: nats.url, DATABASE_URL: db.url };
await Promise.all([
  spawnService('policy', { env: { ...env, POLICY_BUCKET: '' } }),
  spawnService('approval', { env: { ...env, INTAKE_RETRY_BASE: '100ms', INTAKE_RETRY_MAX: '1s' } }),
]);
const nc = await nats.connect();
afterAll(() => nc.drain());

const directory = policyDirectory(Directory.parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8')));
const payment = (action_id: string, amount: number): ApprovalRequestInput => ({
  action_id,
  action_type: 'payment',
  description: `Pay ${amount}`,
  requested_by: 'billing-job',
  context: { amount },
});

// History: payments around the shipped threshold (500) and a candidate's (2000), and a deploy.
const history = [
  payment('pay-100', 100),
  payment('pay-600', 600),
  payment('pay-1500', 1500),
  payment('pay-2500', 2500),
  {
    action_id: 'deploy-prod',
    action_type: 'deploy',
    description: 'deploy api',
    requested_by: 'ci-pipeline',
    context: { environment: 'production' },
  },
];
for (const request of history) await call(nc, 'submit', request);

/** The candidate: payments need approval from 2,000 instead of 500. */
const candidateDir = copyOfPolicies();
setThreshold(candidateDir, 'payment_amount', 2000);

describe('replay (src/replay.ts) over approval.policy_inputs', () => {
  it('pages through every stored request, oldest first, with the decision it got', async () => {
    const stored = [];
    for await (const s of storedPolicyInputs({ nc, pageSize: 2 })) stored.push(s);
    expect(stored.map((s) => s.action_id)).toEqual(history.map((h) => h.action_id));
    expect(stored[1]).toMatchObject({
      request: { action_type: 'payment', requested_by: 'billing-job', context: { amount: 600 } },
      decision: { outcome: 'needs_approval', revision: expect.stringMatching(/^sha256:/) },
    });
  });

  it('reports exactly the decisions the candidate changes', async () => {
    const live = await loadEngine(DEFAULT_POLICY_DIR, { directory });
    const candidate = await loadEngine(candidateDir, { directory });
    const report = await replay({ nc, live, candidate, pageSize: 2 });
    expect(report).toMatchObject({ replayed: 5, errors: [], live_revision: live.revision });
    expect(report.changes).toEqual([
      expect.objectContaining({
        action_id: 'pay-600',
        changed: ['outcome', 'approver_roles'],
        live: {
          outcome: 'needs_approval',
          required_approvals: 1,
          approver_roles: ['finance'],
          risk: 'medium',
        },
        candidate: { outcome: 'auto_approve', required_approvals: 1, approver_roles: [], risk: 'medium' },
      }),
      expect.objectContaining({ action_id: 'pay-1500', changed: ['outcome', 'approver_roles'] }),
    ]);
    // The same policy twice changes nothing.
    const none = await replay({ nc, live, candidate: live });
    expect(none.changes).toEqual([]);
  });

  it('filters by action type and time', async () => {
    const live = await loadEngine(DEFAULT_POLICY_DIR, { directory });
    const candidate = await loadEngine(candidateDir, { directory });
    const deploys = await replay({ nc, live, candidate, actionType: 'deploy' });
    expect(deploys).toMatchObject({ replayed: 1, changes: [] });
    const future = await replay({ nc, live, candidate, since: new Date(Date.now() + 60_000).toISOString() });
    expect(future.replayed).toBe(0);
  });
});

describe('pnpm policy replay (src/cli.ts)', () => {
  const cliEnv = { ...nats.env('ops'), DIRECTORY_FILE: TEST_DIRECTORY_FILE, POLICY_BUCKET: '' };

  it('prints the changes as JSON and exits non-zero past --max-changes', async () => {
    const run = await policyCli(
      [
        'replay',
        '--bundle',
        candidateDir,
        '--live',
        DEFAULT_POLICY_DIR,
        '--since',
        '1h',
        '--json',
        '--max-changes',
        '1',
      ],
      cliEnv,
    );
    expect(run.stderr).toContain('2 decisions would change, more than --max-changes 1');
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as ReplayReport;
    expect(report.changes.map((c) => c.action_id)).toEqual(['pay-600', 'pay-1500']);
  });

  it('prints a table and exits 0 within --max-changes', async () => {
    const run = await policyCli(
      ['replay', '--bundle', candidateDir, '--live', DEFAULT_POLICY_DIR, '--max-changes', '2'],
      cliEnv,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /pay-600\s+payment\s+billing-job\s+outcome,approver_roles\s+needs_approval x1 \[finance\]/,
    );
    expect(run.stdout).toContain('replayed 5 requests: 2 would change');
  });

  it('refuses a replay without a candidate', async () => {
    const run = await policyCli(['replay'], cliEnv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('replay needs --bundle');
  });
});

describe('who may read the history', () => {
  it('operators only: a principal may list approvals but not read every policy input', async () => {
    const dave = await nats.connect('dave');
    try {
      await expect(call(dave, 'list', { limit: 1 })).resolves.toMatchObject({ items: expect.any(Array) });
      await expect(call(dave, 'policyInputs', { limit: 1 }, { timeout: 2000 })).rejects.toThrow();
    } finally {
      await dave.close();
    }
  });
});
