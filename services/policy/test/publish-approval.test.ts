/**
 * Policy changes need approval, on the real services: `pnpm policy publish` files a
 * policy_change approval routed by the live policy (two approvers from ops and security, never
 * the publisher); the bundle stays inactive until two eligible people approve, replicas with
 * POLICY_REQUIRE_APPROVAL refuse a bundle whose approval does not hold, and the approved
 * revision is what then evaluates. Break-glass is for named identities only.
 */
import { callEndpoint } from '@countersign/client';
import { CountersignError } from '@countersign/contracts';
import {
  call,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_OBJECT, openPolicyBucket, putBundle } from '../src/bucket.js';
import { readBundle } from '../src/bundle.js';
import { DEFAULT_POLICY_BUCKET } from '../src/config.js';
import { buildBytes, copyOfPolicies, policyCli, setThreshold } from './support.js';

const [db, nats] = await Promise.all([useTestDatabase('publish'), useTestNats()]);
const env = { NATS_URL: nats.url, DATABASE_URL: db.url };
const nc = await nats.connect();
afterAll(() => nc.drain());

// The shipped policy goes live first, published directly (no replica requires approval yet), so
// the approval flow has a live bundle to diff and replay against.
const cliEnv = { ...nats.env('ops'), DIRECTORY_FILE: TEST_DIRECTORY_FILE };
expect((await policyCli(['publish', '--direct'], cliEnv)).code).toBe(0);
// The replica the approval service asks (a bundle put without approval would load here).
await spawnService('policy', { env: { ...env, POLICY_REQUIRE_APPROVAL: 'false' } });
await spawnService('approval', { env: { ...env, INTAKE_RETRY_BASE: '100ms', INTAKE_RETRY_MAX: '1s' } });
// The replica under test requires approval for every bundle put in the bucket.
const guarded = await spawnService('policy', { env: { ...env, POLICY_REQUIRE_APPROVAL: 'true' } });

const liveRevision = (await callEndpoint(nc, 'policyInfo', {})).revision;
const candidateDir = copyOfPolicies();
setThreshold(candidateDir, 'payment_amount', 2000);
const candidateRevision = readBundle(await buildBytes(candidateDir)).revision;
const guardedLogs = () => guarded.logs().map((l) => JSON.parse(l) as Record<string, unknown>);
const guardedRevision = () =>
  guardedLogs().findLast((l) => l.msg === 'policy loaded' || l.msg === 'ready')?.revision as string;

async function refusal(promise: Promise<unknown>): Promise<CountersignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersignError);
  return err as CountersignError;
}

let approvalId = '';

describe('pnpm policy publish files a policy_change approval', () => {
  it('routes it by the live policy: two approvers from ops and security, with the revision, diff and replay', async () => {
    const run = await policyCli(['publish', '--dir', candidateDir, '--as', 'bob'], cliEnv);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    approvalId = /approval (policy-[0-9a-f-]+) filed/.exec(run.stdout)?.[1] ?? '';
    expect(approvalId).not.toBe('');
    const approval = await call(nc, 'get', { action_id: approvalId });
    expect(approval).toMatchObject({
      action_type: 'policy_change',
      requested_by: 'bob',
      status: 'pending',
      required_approvals: 2,
      policy: { approver_roles: ['ops', 'security'], reasons: [{ code: 'policy_change' }] },
      context: {
        revision: candidateRevision,
        live_revision: liveRevision,
        diff: {
          changed: 1,
          paths: [{ path: 'countersign.thresholds.payment_amount', live: '500', candidate: '2000' }],
        },
        replay: { replayed: expect.any(Number), changes: expect.any(Number) },
      },
    });
  });

  it('stays inactive until two eligible people approve; the publisher cannot vote', async () => {
    const own = await refusal(
      call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'bob' }),
    );
    expect(own.code).toBe('forbidden');
    expect(JSON.stringify(own.details)).toContain('self_approval');
    // dave holds neither ops nor security.
    const dave = await refusal(
      call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'dave' }),
    );
    expect(JSON.stringify(dave.details)).toContain('missing_role');

    await call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'alice' });
    const early = await policyCli(['activate', approvalId], cliEnv);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('is pending (1 of 2 approvals)');
    expect((await callEndpoint(nc, 'policyInfo', {})).revision).toBe(liveRevision);

    await call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'erin' });
    const run = await policyCli(['activate', approvalId], cliEnv);
    expect(run.stdout).toContain(`activated ${candidateRevision}`);
    await waitUntil(() => guardedRevision() === candidateRevision, {
      message: 'the guarded replica to load it',
    });
    expect(guardedLogs().find((l) => l.msg === 'policy change approved: loading it')).toMatchObject({
      approval: approvalId,
      revision: candidateRevision,
    });
  });

  it('the approved revision is what then evaluates', async () => {
    await waitUntil(async () => {
      const d = await callEndpoint(nc, 'evaluate', {
        action_id: 'after-change',
        action_type: 'payment',
        description: 'Pay 1500',
        requested_by: 'billing-job',
        context: { amount: 1500 },
      });
      return d.revision === candidateRevision && d.outcome === 'auto_approve';
    });
  });

  it('a replica requiring approval refuses a bundle put without one, or naming an unfit approval', async () => {
    const store = await openPolicyBucket(nc, DEFAULT_POLICY_BUCKET);
    const other = copyOfPolicies();
    setThreshold(other, 'payment_amount', 5000);
    const bytes = await buildBytes(other);
    const failed = () =>
      guardedLogs().filter((l) => l.msg === 'policy rejected: keeping the last good policy');
    const before = failed().length;
    await putBundle(store, bytes, readBundle(bytes).revision);
    // An approved approval, but of another revision: it cannot be reused for this bundle.
    await putBundle(store, bytes, readBundle(bytes).revision, BUNDLE_OBJECT, { approval: approvalId });
    await waitUntil(() => failed().length >= before + 2, { message: 'both puts to be refused' });
    expect(
      failed()
        .slice(before)
        .map((l) => l.kind),
    ).toEqual(['approval_required', 'approval_required']);
    expect(String(failed().at(-1)?.reason)).toContain(`approves revision ${candidateRevision}`);
    expect(guardedRevision()).toBe(candidateRevision);
  });
});

describe('break-glass', () => {
  it('is refused to an identity the policy does not name: it stays an ordinary approval', async () => {
    const run = await policyCli(
      ['publish', '--dir', copyOfPolicies(), '--as', 'grace', '--break-glass'],
      cliEnv,
    );
    expect(run.stdout).toMatch(/approval policy-[0-9a-f-]+ filed .*pending, needs 2 approvals/);
  });

  it('puts a named identity change live at once, recorded as a critical approval that notifies security', async () => {
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 750);
    const revision = readBundle(await buildBytes(dir)).revision;
    const run = await policyCli(['publish', '--dir', dir, '--as', 'carol', '--break-glass'], cliEnv);
    expect(run.stdout).toContain(`break-glass: ${revision} is live`);
    const id = /approval (policy-[0-9a-f-]+)/.exec(run.stdout)?.[1] ?? '';
    expect(await call(nc, 'get', { action_id: id })).toMatchObject({
      status: 'approved',
      requested_by: 'carol',
      policy: { risk: 'critical', notify: ['security'], reasons: [{ code: 'break_glass' }] },
    });
    await waitUntil(() => guardedRevision() === revision, { message: 'the guarded replica to load it' });
  });
});
