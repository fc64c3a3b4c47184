/**
 * Policy changes need approval, on the real services and a nats-server running the accounts
 * generated from the directory. A person publishes with their OWN credentials: the policy
 * service takes the proposal on `policy.propose.<identity>` (only that person's user may publish
 * there), checks and replays it, and the person files the approval on
 * `approval.submit.<identity>`, so its requester is who the credential proves. The live policy
 * routes it (two approvers from ops and security, never the publisher); `policy.activate` puts
 * it live only once approved and only for the request the proposal recorded; replicas with
 * POLICY_REQUIRE_APPROVAL refuse a bundle whose approval does not hold. Promoting a shadow is
 * the same path. Break-glass is for the identities the policy names.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import { actorSubject, CountersignError, Endpoints } from '@countersign/contracts';
import {
  call,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import { type NatsConnection, PermissionViolationError } from '@nats-io/nats-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_OBJECT, getBundle, openPolicyBucket, putBundle, SHADOW_OBJECT } from '../src/bucket.js';
import { readBundle } from '../src/bundle.js';
import { DEFAULT_POLICY_BUCKET } from '../src/config.js';
import { buildBytes, copyOfPolicies, policyCli, setThreshold, tempDir } from './support.js';

// Its own server, with authentication: who may publish what is the point here.
const [db, nats] = await Promise.all([useTestDatabase('publish'), useTestNats({ own: true })]);
const env = { NATS_URL: nats.url, DATABASE_URL: db.url };
const nc = await nats.connect(); // ops
const bobNc = await nats.connect('bob');
afterAll(async () => {
  await nc.drain();
  await bobNc.drain();
});

/** `pnpm policy` with `who`'s own NATS credentials. */
const as = (who: string) => ({ ...nats.env(who), DIRECTORY_FILE: TEST_DIRECTORY_FILE });
const opsEnv = as('ops');

// The shipped policy goes live first, put directly by ops (no replica requires approval yet), so
// the approval flow has a live bundle to diff and replay against.
expect((await policyCli(['publish', '--direct'], opsEnv)).code).toBe(0);
// The replica the approval service asks (a bundle put without approval would load here).
await spawnService('policy', { env: { ...env, POLICY_REQUIRE_APPROVAL: 'false' } });
await spawnService('approval', { env: { ...env, INTAKE_RETRY_BASE: '100ms', INTAKE_RETRY_MAX: '1s' } });
// The replica under test requires approval for every bundle put in the bucket.
const guarded = await spawnService('policy', { env: { ...env, POLICY_REQUIRE_APPROVAL: 'true' } });

const liveRevision = (await callEndpoint(nc, 'policyInfo', {})).revision;
const candidateDir = copyOfPolicies();
setThreshold(candidateDir, 'payment_amount', 2000);
const candidateBytes = await buildBytes(candidateDir);
const candidateRevision = readBundle(candidateBytes).revision;
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const guardedLogs = () => guarded.logs().map((l) => JSON.parse(l) as Record<string, unknown>);
const guardedRevision = () =>
  guardedLogs().findLast((l) => l.msg === 'policy loaded' || l.msg === 'ready')?.revision as string;
const store = await openPolicyBucket(nc, DEFAULT_POLICY_BUCKET);

async function refusal(promise: Promise<unknown>): Promise<CountersignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersignError);
  return err as CountersignError;
}

/** What nats-server answers a publish this user may not make (a request carries it as cause). */
async function publishRefused(conn: NatsConnection, subject: string): Promise<void> {
  const err = await conn.request(subject, '{}', { timeout: 3_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const violation = err instanceof PermissionViolationError ? err : (err as Error | undefined)?.cause;
  expect(violation).toBeInstanceOf(PermissionViolationError);
  expect(violation).toMatchObject({ operation: 'publish', subject });
}

/** The guarded replica follows the bucket: on a loaded machine a swap can take a while. */
const SLOW = 30_000;
const approvalIdIn = (stdout: string) => /approval (policy-[0-9a-f-]+)/.exec(stdout)?.[1] ?? '';
let approvalId = '';

describe('a person publishes with their own credentials', () => {
  it('files the approval as that person: routed to ops and security, with the revision, diff and replay', async () => {
    const run = await policyCli(['publish', '--dir', candidateDir], as('bob'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`filed by bob for ${candidateRevision}`);
    approvalId = approvalIdIn(run.stdout);
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
        // replayed by the policy service itself, which may read the stored requests
        replay: { replayed: expect.any(Number), changes: expect.any(Number) },
      },
    });
    // The proposal waits in the bucket, which people cannot write: the policy service put it.
    expect((await getBundle(store, `proposal-${approvalId}.tar.gz`))?.info.metadata).toMatchObject({
      revision: candidateRevision,
      proposed_by: 'bob',
    });
  });

  it('cannot propose under another identity: nats-server refuses the subject', async () => {
    await publishRefused(bobNc, actorSubject('proposePolicy', 'alice'));
    // nor put anything in the bucket itself
    await publishRefused(bobNc, `$O.${DEFAULT_POLICY_BUCKET}.M.x`);
  });

  it('cannot name another requester in the proposal', async () => {
    const err = await refusal(
      callEndpoint(
        bobNc,
        'proposePolicy',
        { bundle: base64(candidateBytes), requested_by: 'alice' },
        { actor: 'bob', timeout: 60_000 },
      ),
    );
    expect(err.code).toBe('forbidden');
    expect(JSON.stringify(err.details)).toContain('actor_mismatch');
  });

  it('a requesting system cannot propose at all', async () => {
    const job = await nats.connect('billing-job');
    try {
      await publishRefused(job, actorSubject('proposePolicy', 'billing-job'));
    } finally {
      await job.drain();
    }
  });

  it('ops can no longer file a change as someone: no --as, and policy.propose is refused to it', async () => {
    const asBob = await policyCli(['publish', '--dir', candidateDir, '--as', 'bob'], opsEnv);
    expect(asBob.code).not.toBe(0);
    expect(asBob.stderr).toContain("Unknown option '--as'");
    const plain = await policyCli(['publish', '--dir', candidateDir], opsEnv);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('ops cannot propose a policy change');
    // Not even by hand, under any identity.
    await publishRefused(nc, actorSubject('proposePolicy', 'bob'));
    await publishRefused(nc, Endpoints.proposePolicy.subject);
  });

  it('stays inactive until two eligible people approve; the publisher cannot vote', async () => {
    const own = await refusal(
      call(bobNc, 'decide', { action_id: approvalId, approved: true }, { as: 'bob' }),
    );
    expect(own.code).toBe('forbidden');
    expect(JSON.stringify(own.details)).toContain('self_approval');
    // dave holds neither ops nor security.
    const dave = await refusal(
      call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'dave' }),
    );
    expect(JSON.stringify(dave.details)).toContain('missing_role');

    await call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'alice' });
    const early = await policyCli(['activate', approvalId], as('bob'));
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('forbidden: approval');
    expect(early.stderr).toContain('is pending (1 of 2 approvals)');
    expect((await callEndpoint(nc, 'policyInfo', {})).revision).toBe(liveRevision);

    await call(nc, 'decide', { action_id: approvalId, approved: true, decided_by: 'erin' });
    // Anyone may ask for the activation: the approval is what the policy service checks.
    const run = await policyCli(['activate', approvalId], as('dave'));
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`activated ${candidateRevision} (approval ${approvalId}, proposed by bob)`);
    await waitUntil(() => guardedRevision() === candidateRevision, {
      message: 'the guarded replica to load it',
      timeout: SLOW,
    });
    expect(guardedLogs().find((l) => l.msg === 'policy change approved: loading it')).toMatchObject({
      approval: approvalId,
      revision: candidateRevision,
    });
    // Asked again: already live, nothing redone.
    const again = await policyCli(['activate', approvalId], opsEnv);
    expect(again.stdout).toContain(`already live: ${candidateRevision}`);
  });

  it('the approved revision is what then evaluates', async () => {
    await waitUntil(
      async () => {
        const d = await callEndpoint(nc, 'evaluate', {
          action_id: 'after-change',
          action_type: 'payment',
          description: 'Pay 1500',
          requested_by: 'billing-job',
          context: { amount: 1500 },
        });
        return d.revision === candidateRevision && d.outcome === 'auto_approve';
      },
      { timeout: SLOW },
    );
  });

  it('an approval filed with another context than the proposal recorded never activates', async () => {
    // bob proposes, then files the request with a reassuring diff the approvers would judge by.
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 900_000);
    const proposal = await callEndpoint(
      bobNc,
      'proposePolicy',
      { bundle: base64(await buildBytes(dir)) },
      { actor: 'bob', timeout: 60_000 },
    );
    const forged = {
      ...proposal.request,
      context: { ...proposal.request.context, diff: { changed: 0, paths: [] } },
    };
    const id = forged.action_id;
    await call(bobNc, 'submit', forged, { as: 'bob' });
    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'alice' });
    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'erin' });
    const err = await refusal(callEndpoint(nc, 'activatePolicy', { action_id: id }, { timeout: 30_000 }));
    expect(err.code).toBe('forbidden');
    expect(JSON.stringify(err.details)).toContain('request_mismatch');
    expect((await callEndpoint(nc, 'policyInfo', {})).revision).toBe(candidateRevision);
  });

  it('a replica requiring approval refuses a bundle put without one, or naming an unfit approval', async () => {
    const other = copyOfPolicies();
    setThreshold(other, 'payment_amount', 5000);
    const bytes = await buildBytes(other);
    const failed = () =>
      guardedLogs().filter((l) => l.msg === 'policy rejected: keeping the last good policy');
    const before = failed().length;
    await putBundle(store, bytes, readBundle(bytes).revision);
    // An approved approval, but of another revision: it cannot be reused for this bundle.
    await putBundle(store, bytes, readBundle(bytes).revision, BUNDLE_OBJECT, { approval: approvalId });
    await waitUntil(() => failed().length >= before + 2, {
      message: 'both puts to be refused',
      timeout: SLOW,
    });
    expect(
      failed()
        .slice(before)
        .map((l) => l.kind),
    ).toEqual(['approval_required', 'approval_required']);
    expect(String(failed().at(-1)?.reason)).toContain(`approves revision ${candidateRevision}`);
    expect(guardedRevision()).toBe(candidateRevision);
  });
});

describe('a refused proposal gets a structured error', () => {
  it('a bundle failing its own golden cases: invalid_request naming the check', async () => {
    const dir = copyOfPolicies();
    // the golden case "a payment of 1,000,000,000 is never auto-approved" now fails
    setThreshold(dir, 'payment_amount', 2_000_000_000);
    const run = await policyCli(['publish', '--dir', dir], as('bob'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('policy: invalid_request: the bundle is refused (golden_case_failed)');
  });

  it('bytes that are no bundle: invalid_request on the bundle field', async () => {
    const err = await refusal(
      callEndpoint(bobNc, 'proposePolicy', { bundle: base64(Buffer.from('not a bundle')) }, { actor: 'bob' }),
    );
    expect(err.code).toBe('invalid_request');
    expect(err.details).toMatchObject({ fields: [{ path: 'bundle' }] });
  });

  it('a bundle over the server max_payload: payload_too_large before anything is sent', async () => {
    const file = join(tempDir('big'), 'big.tar.gz');
    writeFileSync(file, Buffer.alloc(900 * 1024, 7));
    const run = await policyCli(['publish', '--bundle', file], as('bob'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/policy: payload_too_large: the bundle is 921600 bytes, \d+ as a proposal/);
    expect(run.stderr).toContain('max_payload');
  });
});

describe('promote goes through approval too', () => {
  const shadowDir = copyOfPolicies();
  setThreshold(shadowDir, 'payment_amount', 3000);
  let shadowRevision = '';

  it('promote proposes the shadow: nothing changes until approved, then activate ends the shadow', async () => {
    shadowRevision = readBundle(await buildBytes(shadowDir)).revision;
    expect((await policyCli(['shadow', '--dir', shadowDir], opsEnv)).code).toBe(0);
    const run = await policyCli(['promote'], as('grace'));
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`filed by grace for ${shadowRevision}`);
    const id = approvalIdIn(run.stdout);
    expect(await call(nc, 'get', { action_id: id })).toMatchObject({
      requested_by: 'grace',
      status: 'pending',
      context: { revision: shadowRevision, promotes_shadow: true },
    });
    // Still the shadow, never enforced, until two others approve.
    expect((await getBundle(store, SHADOW_OBJECT))?.info.metadata?.revision).toBe(shadowRevision);
    expect((await policyCli(['activate', id], as('grace'))).stderr).toContain(
      'is pending (0 of 2 approvals)',
    );
    const own = await refusal(call(nc, 'decide', { action_id: id, approved: true, decided_by: 'grace' }));
    expect(JSON.stringify(own.details)).toContain('self_approval');

    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'bob' });
    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'erin' });
    const done = await policyCli(['activate', id], as('grace'));
    expect(done.stdout).toContain(`activated ${shadowRevision}`);
    expect(done.stdout).toContain('the shadow ended');
    expect(await getBundle(store, SHADOW_OBJECT)).toBeNull();
    await waitUntil(() => guardedRevision() === shadowRevision, {
      message: 'the guarded replica to load it',
      timeout: SLOW,
    });
  });

  it('promote --direct skips the approval, so a replica requiring one refuses what it wrote', async () => {
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 4000);
    expect((await policyCli(['shadow', '--dir', dir], opsEnv)).code).toBe(0);
    const failed = () =>
      guardedLogs().filter((l) => l.msg === 'policy rejected: keeping the last good policy').length;
    const before = failed();
    const run = await policyCli(['promote', '--direct'], opsEnv);
    expect(run.stdout).toContain('promoted');
    await waitUntil(() => failed() > before, { message: 'the guarded replica to refuse it', timeout: SLOW });
    expect(guardedRevision()).toBe(shadowRevision);
  });
});

describe('break-glass', () => {
  it('is refused to an identity the policy does not name: it stays an ordinary approval', async () => {
    const run = await policyCli(['publish', '--dir', copyOfPolicies(), '--break-glass'], as('grace'));
    expect(run.stdout).toMatch(/approval policy-[0-9a-f-]+ filed by grace .*pending, needs 2 approvals/);
    // Withdrawn, it never goes live, and its proposal leaves the bucket.
    const id = approvalIdIn(run.stdout);
    await call(nc, 'cancel', { action_id: id, cancelled_by: 'grace' });
    const err = await refusal(callEndpoint(nc, 'activatePolicy', { action_id: id }, { timeout: 30_000 }));
    expect(err.message).toContain('is cancelled');
    expect(err.message).toContain('will never go live');
    expect(await getBundle(store, `proposal-${id}.tar.gz`)).toBeNull();
  });

  it('puts a named identity change live at once, recorded as a critical approval that notifies security', async () => {
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 750);
    const revision = readBundle(await buildBytes(dir)).revision;
    const run = await policyCli(['publish', '--dir', dir, '--break-glass'], as('carol'));
    expect(run.stdout).toContain(`break-glass: activated ${revision}`);
    const id = approvalIdIn(run.stdout);
    expect(await call(nc, 'get', { action_id: id })).toMatchObject({
      status: 'approved',
      requested_by: 'carol',
      policy: { risk: 'critical', notify: ['security'], reasons: [{ code: 'break_glass' }] },
    });
    await waitUntil(() => guardedRevision() === revision, {
      message: 'the guarded replica to load it',
      timeout: SLOW,
    });
  });
});
