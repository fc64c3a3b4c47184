/**
 * Roles come from the directory file and follow it without a restart: the service process
 * (policy built from its sources) and a replica following the bucket both serve an edited
 * directory's roles at once, name its revision, and keep the roles in force on a broken edit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import type { Approval, AuthorizeAction, PolicyDecision } from '@countersign/contracts';
import { openDirectory } from '@countersign/runtime';
import {
  type ServiceProcess,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, describe, expect, it } from 'vitest';
import { openPolicyBucket, putBundle } from '../src/bucket.js';
import { readBundle } from '../src/bundle.js';
import { type PolicyService, startPolicyService } from '../src/service.js';
import {
  buildBytes,
  capturingLogger,
  copyOfPolicies,
  evaluateRequest,
  opaBin,
  pendingApproval,
  setThreshold,
  tempDir,
} from './support.js';

// Top level, not in beforeAll: the fixtures register their own afterAll cleanup, which vitest
// only honours while the file is being collected.
const nats = await useTestNats();
// The policy service runs in-process on this connection and the test asks it: the ops user.
const nc: NatsConnection = await nats.connect();
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await nc.drain();
});

const TEST_DIRECTORY = readFileSync(TEST_DIRECTORY_FILE, 'utf8');

/** A copy of the test directory that a test edits. */
function directoryCopy(): string {
  const file = join(tempDir('directory'), 'directory.yaml');
  writeFileSync(file, TEST_DIRECTORY);
  return file;
}

/** The test directory with one person's roles replaced (the YAML is one entry per line). */
function withRoles(person: string, roles: string[]): string {
  const line = new RegExp(`^( {2}${person}: \\{ email: ${person}@example\\.test)[^}]*\\}$`, 'm');
  expect(TEST_DIRECTORY).toMatch(line);
  return TEST_DIRECTORY.replace(line, `$1, roles: [${roles.join(', ')}] }`);
}

const pendingPayment = (policy: PolicyDecision) => pendingApproval(policy, { action_id: 'dir-1' });

const authorize = (action: AuthorizeAction, approval: Approval, actor: string) =>
  callEndpoint(nc, 'authorize', { action, approval, actor });
const info = () => callEndpoint(nc, 'policyInfo', {});

describe('the service process follows DIRECTORY_FILE', () => {
  it('serves an edited role at once, names the directory revision, and survives a broken edit', async () => {
    const file = directoryCopy();
    const service: ServiceProcess = await spawnService('policy', {
      env: { NATS_URL: nats.url, DIRECTORY_FILE: file, POLICY_BUCKET: '' },
    });
    const before = await info();
    const decision = await callEndpoint(
      nc,
      'evaluate',
      evaluateRequest({ requested_by: 'billing-job', context: { amount: 1500 } }),
    );
    expect(decision.directory_revision).toBe(before.directory_revision);
    const payment = pendingPayment(decision);

    // The attacker's view first: dave holds no role, so he neither decides nor cancels.
    expect((await authorize('decide', payment, 'dave')).reasons.map((r) => r.code)).toEqual(['missing_role']);
    expect((await authorize('cancel', payment, 'dave')).allowed).toBe(false);

    writeFileSync(file, withRoles('dave', ['finance']));
    const granted = await waitUntil(async () => {
      const r = await authorize('decide', payment, 'dave');
      return r.allowed ? r : undefined;
    });
    const after = await info();
    expect(after.revision).toBe(before.revision);
    expect(after.directory_revision).not.toBe(before.directory_revision);
    expect(granted.directory_revision).toBe(after.directory_revision);
    expect((await authorize('cancel', payment, 'dave')).allowed).toBe(true);
    expect(service.logs().some((l) => l.includes('policy roles reloaded from the directory'))).toBe(true);

    // Taking a role away is as quick, and bypass roles follow too: carol stops bypassing.
    writeFileSync(file, withRoles('carol', []));
    await waitUntil(async () => !(await authorize('decide', payment, 'dave')).allowed);
    const carol = await callEndpoint(
      nc,
      'evaluate',
      evaluateRequest({ requested_by: 'carol', context: { amount: 1500 } }),
    );
    expect(carol.outcome).toBe('needs_approval');

    // A broken edit is refused by the directory loader: the roles in force stay.
    const kept = (await info()).directory_revision;
    writeFileSync(file, 'people: [this is not a directory');
    await waitUntil(() => service.logs().some((l) => l.includes('directory reload refused')));
    expect((await info()).directory_revision).toBe(kept);
    expect((await authorize('decide', payment, 'frank')).allowed).toBe(true);
    await service.stop();
  });
});

describe('a replica following the bucket', () => {
  it('serves the directory in force with a newly published bundle, and new roles with the bundle in use', async () => {
    const file = directoryCopy();
    const logger = capturingLogger().logger;
    const directory = await openDirectory({ file, logger, intervalMs: 50 });
    stops.push(() => directory.stop());
    const bucket = 'countersign-policy-directory-test';
    // ops: the policy user may use only the production bucket, and this test has its own.
    const replicaNc = await nats.connect();
    const replica: PolicyService = await startPolicyService(
      replicaNc,
      { dir: copyOfPolicies(), opaBin: opaBin(), bucket, directory },
      logger,
    );
    stops.push(async () => {
      await replica.stop();
      await replicaNc.drain();
    });
    const first = replica.holder.info();
    expect(first.directory_revision).toBe(directory.current().revision);

    // A bundle published while the directory is unchanged serves with that directory.
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 2000);
    const bytes = await buildBytes(dir);
    const revision = readBundle(bytes).revision;
    await putBundle(await openPolicyBucket(nc, bucket), bytes, revision);
    await waitUntil(() => replica.holder.revision === revision, { message: 'the replica to swap' });
    expect(replica.holder.info()).toMatchObject({
      revision,
      directory_revision: first.directory_revision,
      source: expect.stringMatching(/^object-store /),
    });
    const carolPays = () =>
      replica.holder.current().engine.decide({
        ...evaluateRequest({ requested_by: 'carol' }),
        context: { amount: 5000 },
        now: new Date().toISOString(),
      }).result.outcome;
    expect(carolPays()).toBe('auto_approve');

    // The directory changes: the bucket's bundle stays, with the new roles.
    writeFileSync(file, withRoles('carol', []));
    await waitUntil(() => replica.holder.info().directory_revision !== first.directory_revision, {
      message: 'the replica to take the new roles',
    });
    expect(replica.holder.info()).toMatchObject({
      revision,
      source: expect.stringMatching(/^object-store /),
    });
    expect(carolPays()).toBe('needs_approval');
  });
});
