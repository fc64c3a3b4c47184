/**
 * Directory changes go through approval, on the real services (approval and policy with
 * DIRECTORY_BUCKET, a nats-server with authentication, PostgreSQL): a person files a change with
 * their own NATS user; it stays inactive until two eligible people approve it (never the
 * requester, never someone it grants a role); ops activate it and every service then decides
 * with it; a store write without a fitting approval is never loaded.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CountersignError } from '@countersign/contracts';
import { REPO_ROOT } from '@countersign/devinfra';
import { DEFAULT_DIRECTORY_BUCKET, directoryDigest, putLiveDirectory } from '@countersign/runtime';
import {
  call,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';

const [db, nats] = await Promise.all([useTestDatabase('dirchange'), useTestNats()]);
const env = { NATS_URL: nats.url, DATABASE_URL: db.url, DIRECTORY_BUCKET: DEFAULT_DIRECTORY_BUCKET };
const nc = await nats.connect();
afterAll(() => nc.drain());

const [approval, policy] = await Promise.all([
  spawnService('approval', { env: { ...env, INTAKE_RETRY_BASE: '100ms', INTAKE_RETRY_MAX: '1s' } }),
  spawnService('policy', { env: { ...env, POLICY_BUCKET: '' } }),
]);

const seed = readFileSync(TEST_DIRECTORY_FILE, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'dirchange-'));
const fileOf = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
// grace (ops, security) and eve (no role) gain finance.
const candidate = seed
  .replace(
    'grace: { email: grace@example.test, roles: [ops, security]',
    'grace: { email: grace@example.test, roles: [ops, security, finance]',
  )
  .replace('eve: { email: eve@example.test }', 'eve: { email: eve@example.test, roles: [finance] }');
const candidateRevision = directoryDigest(candidate);

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}
function directoryCli(args: string[], who: string): Promise<CliRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'packages/runtime/src/directory/cli.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...nats.env(who), DIRECTORY_FILE: TEST_DIRECTORY_FILE },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

type Line = Record<string, unknown>;
const linesOf = (service: typeof approval) => service.logs().map((l) => JSON.parse(l) as Line);
const loaded = (service: typeof approval) =>
  linesOf(service).filter((l) => l.msg === 'directory change approved: loading it');
const refused = (service: typeof approval) =>
  linesOf(service).filter((l) => l.msg === 'directory change not approved: keeping the directory in force');

async function refusal(promise: Promise<unknown>): Promise<CountersignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersignError);
  return err as CountersignError;
}

/** A pending payment of billing-job that needs one finance approver. */
let payments = 0;
async function payment() {
  const id = `dirchange-pay-${++payments}`;
  await call(nc, 'submit', {
    action_id: id,
    action_type: 'payment',
    description: 'Pay 5000',
    requested_by: 'billing-job',
    context: { amount: 5000 },
  });
  return id;
}

let changeId = '';

describe('pnpm directory publish', () => {
  it('refuses a file that does not load before anything is filed, and ops filing for someone', async () => {
    const broken = await directoryCli(
      ['publish', '--file', fileOf('broken.yaml', 'people:\n  "bad name": {}\n')],
      'bob',
    );
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('people.bad name');
    const asOps = await directoryCli(['publish', '--file', fileOf('candidate.yaml', candidate)], 'ops');
    expect(asOps.code).toBe(2);
    expect(asOps.stderr).toContain('filed by a person with their own NATS user');
  });

  it('files a directory_change as the person whose credential it is, routed to two from ops and security', async () => {
    const run = await directoryCli(['publish', '--file', fileOf('candidate.yaml', candidate)], 'bob');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('roles granted: eve +finance, grace +finance');
    changeId = /approval (directory-[0-9a-f-]+) filed by bob/.exec(run.stdout)?.[1] ?? '';
    expect(changeId).not.toBe('');
    expect(await call(nc, 'get', { action_id: changeId })).toMatchObject({
      action_type: 'directory_change',
      requested_by: 'bob',
      status: 'pending',
      required_approvals: 2,
      policy: { approver_roles: ['ops', 'security'], reasons: [{ code: 'directory_change' }] },
      context: {
        revision: candidateRevision,
        live_revision: directoryDigest(seed),
        diff: {
          roles_granted: [
            { identity: 'eve', role: 'finance' },
            { identity: 'grace', role: 'finance' },
          ],
        },
      },
    });
  });
});

describe('a directory change', () => {
  it('is not decided by its requester nor by anyone it grants a role', async () => {
    const own = await refusal(call(nc, 'decide', { action_id: changeId, approved: true, decided_by: 'bob' }));
    expect(JSON.stringify(own.details)).toContain('self_approval');
    const grantee = await refusal(
      call(nc, 'decide', { action_id: changeId, approved: true, decided_by: 'grace' }),
    );
    expect(JSON.stringify(grantee.details)).toContain('role_grantee');
    const eve = await refusal(call(nc, 'decide', { action_id: changeId, approved: true, decided_by: 'eve' }));
    expect(JSON.stringify(eve.details)).toContain('role_grantee');
  });

  it('stays inactive until two eligible people approve it; then ops activate it and every service uses it', async () => {
    await call(nc, 'decide', { action_id: changeId, approved: true, decided_by: 'alice' });
    const early = await directoryCli(['activate', changeId], 'ops');
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('is pending (1 of 2 approvals)');

    // Before: eve holds no finance role.
    const before = await payment();
    const missing = await refusal(
      call(nc, 'decide', { action_id: before, approved: true, decided_by: 'eve' }),
    );
    expect(JSON.stringify(missing.details)).toContain('missing_role');

    await call(nc, 'decide', { action_id: changeId, approved: true, decided_by: 'erin' });
    // A person cannot put it live: only ops write the store.
    const byBob = await directoryCli(['activate', changeId], 'bob');
    expect(byBob.code).toBe(1);
    expect(byBob.stderr).toContain('Permissions Violation');
    const run = await directoryCli(['activate', changeId], 'ops');
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`activated directory ${candidateRevision} (approval ${changeId})`);
    for (const service of [approval, policy]) {
      await waitUntil(() => loaded(service).length === 1, { message: 'each service to load the change' });
      expect(loaded(service)[0]).toMatchObject({ approval: changeId, change_revision: candidateRevision });
    }
    // After: eve, newly finance, decides a payment.
    const after = await payment();
    expect(await call(nc, 'decide', { action_id: after, approved: true, decided_by: 'eve' })).toMatchObject({
      status: 'approved',
    });
  });
});

describe('the directory store', () => {
  // dave made admin (a bypass and operator role): what an attacker writing the store wants.
  const rogue = `${candidate.replace('dave: { email: dave@example.test }', 'dave: { email: dave@example.test, roles: [finance, admin] }')}`;

  async function writeAndWaitRefused(text: string, approvalId: string | undefined): Promise<Line[]> {
    const counts = [approval, policy].map((s) => refused(s).length);
    await putLiveDirectory(nc, DEFAULT_DIRECTORY_BUCKET, text, approvalId);
    await waitUntil(() => [approval, policy].every((s, i) => refused(s).length > (counts[i] ?? 0)), {
      message: 'both services to refuse the write',
    });
    return [approval, policy].map((s) => refused(s).at(-1) as Line);
  }

  async function daveStillCannotDecide() {
    const id = await payment();
    const err = await refusal(call(nc, 'decide', { action_id: id, approved: true, decided_by: 'dave' }));
    expect(JSON.stringify(err.details)).toContain('missing_role');
  }

  it('does not load a write that names no approval', async () => {
    const [a, p] = await writeAndWaitRefused(rogue, undefined);
    expect(String(a?.reason)).toContain('names no approval');
    expect(String(p?.reason)).toContain('names no approval');
    await daveStillCannotDecide();
  });

  it('does not load a write naming the approved change for another revision, or an approval of another type', async () => {
    const [replayed] = await writeAndWaitRefused(rogue, changeId);
    expect(String(replayed?.reason)).toContain(`approves revision ${candidateRevision}`);
    const approvedPayment = await payment();
    await call(nc, 'decide', { action_id: approvedPayment, approved: true, decided_by: 'frank' });
    const [, other] = await writeAndWaitRefused(rogue, approvedPayment);
    expect(String(other?.reason)).toContain('is a payment, not a directory_change');
    await daveStillCannotDecide();
    expect(loaded(approval)).toHaveLength(1);
    expect(loaded(policy)).toHaveLength(1);
  });

  it('refuses to activate a change whose requester hid a grant from its approvers', async () => {
    // bob files without the CLI: the summary leaves out that grace gains admin, so grace's own
    // vote is not refused. Activation recomputes the diff against the directory in force.
    const live = candidate;
    const hidden = live.replace('roles: [ops, security, finance]', 'roles: [ops, security, finance, admin]');
    const forged = {
      revision: directoryDigest(hidden),
      live_revision: directoryDigest(live),
      diff: {
        people_added: [],
        people_removed: [],
        services_added: [],
        services_removed: [],
        roles_granted: [],
        roles_revoked: [],
        channels_changed: [],
        entries_changed: [],
        changes: 0,
        truncated: false,
      },
      candidate: hidden,
    };
    const id = 'dirchange-forged';
    await call(nc, 'submit', {
      action_id: id,
      action_type: 'directory_change',
      description: 'Tidy the directory',
      requested_by: 'bob',
      context: forged,
    });
    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'grace' });
    await call(nc, 'decide', { action_id: id, approved: true, decided_by: 'erin' });
    const run = await directoryCli(['activate', id], 'ops');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('another diff than the one its directory makes');
  });

  it('refuses to activate an approval of another type', async () => {
    const approvedPayment = await payment();
    await call(nc, 'decide', { action_id: approvedPayment, approved: true, decided_by: 'frank' });
    const run = await directoryCli(['activate', approvedPayment], 'ops');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not a directory change');
  });
});

describe('the directory in force', () => {
  // The second change takes eve's finance role back.
  const revoked = candidate.replace(
    'eve: { email: eve@example.test, roles: [finance] }',
    'eve: { email: eve@example.test }',
  );
  let secondId = '';

  it('is the approved change filed last: a later change revokes, and writing the earlier one again does not roll it back', async () => {
    const run = await directoryCli(['publish', '--file', fileOf('revoke.yaml', revoked)], 'bob');
    expect(run.stdout).toContain('roles revoked: eve -finance');
    secondId = /approval (directory-[0-9a-f-]+) filed/.exec(run.stdout)?.[1] ?? '';
    await call(nc, 'decide', { action_id: secondId, approved: true, decided_by: 'alice' });
    await call(nc, 'decide', { action_id: secondId, approved: true, decided_by: 'grace' });
    expect((await directoryCli(['activate', secondId], 'ops')).code).toBe(0);
    for (const service of [approval, policy]) {
      await waitUntil(() => loaded(service).length === 2, {
        message: 'each service to load the second change',
      });
    }
    const counts = [approval, policy].map((s) => refused(s).length);
    await putLiveDirectory(nc, DEFAULT_DIRECTORY_BUCKET, candidate, changeId);
    await waitUntil(() => [approval, policy].every((s, i) => refused(s).length > (counts[i] ?? 0)));
    expect(String(refused(policy).at(-1)?.reason)).toContain('an old change cannot roll the directory back');
    const id = await payment();
    const err = await refusal(call(nc, 'decide', { action_id: id, approved: true, decided_by: 'eve' }));
    expect(JSON.stringify(err.details)).toContain('missing_role');
  });

  it('is what a service starting later loads, whatever was written behind it', async () => {
    await putLiveDirectory(nc, DEFAULT_DIRECTORY_BUCKET, seed, undefined);
    const late = await spawnService('policy', { env: { ...env, POLICY_BUCKET: '' } });
    const first = loaded(late);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ approval: secondId, change_revision: directoryDigest(revoked) });
    expect(String(refused(late)[0]?.reason)).toContain('names no approval');
  });
});
