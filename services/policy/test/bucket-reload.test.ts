/**
 * Deployment hot reload: replicas follow the NATS object store bucket. A published bundle
 * reaches every replica under load with no failed request; a broken one changes nothing and is
 * reported; a replica started later begins with the bucket's bundle.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { callEndpoint } from '@countersign/client';
import { REPO_ROOT, tool } from '@countersign/devinfra';
import { TEST_DIRECTORY_FILE, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ObjectStore } from '@nats-io/obj';
import { Svcm } from '@nats-io/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_OBJECT, openPolicyBucket, putBundle } from '../src/bucket.js';
import { ENTRYPOINTS, readBundle } from '../src/bundle.js';
import { DEFAULT_POLICY_BUCKET } from '../src/config.js';
import type { ReloadStatus } from '../src/holder.js';
import { type PolicyService, startPolicyService } from '../src/service.js';
import {
  buildBytes,
  capturingLogger,
  copyOfPolicies,
  evaluateRequest,
  opaBin,
  setThreshold,
  startLoad,
  tempDir,
} from './support.js';

const execFileAsync = promisify(execFile);

// Top level, not in beforeAll: useTestNats registers its own afterAll cleanup, which vitest
// only honours while the file is being collected.
// Its own server even with NATS_URL set: the restart test below restarts it.
const nats = await useTestNats({ own: true });
const { url, server } = nats;
const client: NatsConnection = await nats.connect();
const store: ObjectStore = await openPolicyBucket(client, DEFAULT_POLICY_BUCKET);
const connections: NatsConnection[] = [];
const replicas: PolicyService[] = [];

/** One replica as a deployment runs it: its own connection, the default bucket. */
async function startReplica(dir: string) {
  const nc = await nats.connect('policy');
  connections.push(nc);
  const { logger, lines } = capturingLogger();
  const replica = await startPolicyService(
    nc,
    { dir, opaBin: opaBin(), bucket: DEFAULT_POLICY_BUCKET },
    logger,
  );
  replicas.push(replica);
  return { replica, lines };
}

afterAll(async () => {
  for (const r of replicas) await r.stop();
  for (const nc of [...connections, client]) await nc.drain();
});

const revisions = () => replicas.map((r) => r.holder.revision);
const failedReloads = () => replicas.map((r) => r.holder.status().failed_reloads);
const payment1500 = evaluateRequest({ context: { amount: 1500 } });

function withoutGoldenCases(): string {
  const dir = copyOfPolicies();
  rmSync(join(dir, 'countersign/golden.json'));
  return dir;
}

async function bundleWithThreshold(paymentAmount: number) {
  const dir = copyOfPolicies();
  setThreshold(dir, 'payment_amount', paymentAmount);
  const bytes = await buildBytes(dir);
  return { bytes, revision: readBundle(bytes).revision, dir };
}

describe('the policy bucket', () => {
  let shipped: string;

  beforeAll(async () => {
    const dir = copyOfPolicies();
    await startReplica(dir);
    await startReplica(dir);
    shipped = replicas[0]?.holder.revision ?? '';
    expect(revisions()).toEqual([shipped, shipped]);
  });

  it('swaps every replica to a published bundle, with no failed request under load', async () => {
    const load = startLoad(client, payment1500, 16);
    await waitUntil(() => load.samples.length >= 40, { message: 'load to flow' });

    const next = await bundleWithThreshold(2000);
    await putBundle(store, next.bytes, next.revision);
    await waitUntil(() => revisions().every((r) => r === next.revision), {
      message: 'both replicas to swap',
    });
    await waitUntil(() => load.samples.filter((s) => s.revision === next.revision).length >= 40);
    const { samples, failures } = await load.stop();

    expect(failures).toEqual([]);
    expect(new Set(samples.map((s) => s.revision))).toEqual(new Set([shipped, next.revision]));
    // Each reply was decided by the policy it names: the swap never mixes two policies.
    for (const s of samples)
      expect(s.outcome).toBe(s.revision === shipped ? 'needs_approval' : 'auto_approve');
    for (const r of replicas) {
      expect(r.holder.info()).toMatchObject({
        revision: next.revision,
        source: `object-store ${DEFAULT_POLICY_BUCKET}/${BUNDLE_OBJECT}`,
      });
    }
    expect((await callEndpoint(client, 'policyInfo', {})).revision).toBe(next.revision);
  });

  it('reports each replica revision and reload status in nats micro stats', async () => {
    const stats = await new Svcm(client).client().stats('policy');
    const data: ReloadStatus[] = [];
    for await (const s of stats) {
      const evaluate = s.endpoints?.find((e) => e.name === 'evaluate');
      data.push(evaluate?.data as ReloadStatus);
    }
    expect(data).toHaveLength(2);
    for (const d of data)
      expect(d).toMatchObject({ revision: revisions()[0], reloads: 1, failed_reloads: 0 });
  });

  it('keeps the current policy on every replica when a broken bundle is published', async () => {
    const current = revisions()[0];
    const shippedDir = copyOfPolicies();
    const broken = [
      { kind: 'invalid_bundle', bytes: new TextEncoder().encode('not a bundle') },
      { kind: 'missing_entrypoint', bytes: await buildBytes(shippedDir, [ENTRYPOINTS.decision]) },
      // Compiles and loads, but would auto-approve a payment of any size.
      { kind: 'golden_case_failed', bytes: (await bundleWithThreshold(Number.MAX_SAFE_INTEGER)).bytes },
    ];
    for (const { kind, bytes } of broken) {
      const failedBefore = failedReloads();
      await putBundle(store, bytes, 'broken');
      await waitUntil(() => failedReloads().every((n, i) => n === (failedBefore[i] ?? 0) + 1), {
        message: `both replicas to refuse the ${kind} bundle`,
      });
      for (const r of replicas) {
        expect(r.holder.revision).toBe(current);
        expect(r.holder.status().last_error).toMatchObject({
          kind,
          source: expect.stringContaining('object-store'),
        });
      }
      const d = await callEndpoint(client, 'evaluate', payment1500);
      expect(d).toMatchObject({ revision: current, outcome: 'auto_approve' });
    }
  });

  it('loads a bundle that carries no golden cases, with a warning in the log and the stats', async () => {
    const bytes = await buildBytes(withoutGoldenCases());
    const { revision } = readBundle(bytes);
    await putBundle(store, bytes, revision);
    await waitUntil(() => revisions().every((r) => r === revision), { message: 'both replicas to swap' });
    for (const r of replicas) {
      expect(r.holder.status().warnings).toEqual([expect.stringContaining('carries no golden cases')]);
    }
  });

  it('accepts a bundle put with the NATS CLI (nats obj put), as ops may do by hand', async () => {
    const next = await bundleWithThreshold(2500);
    const file = join(tempDir('obj-put'), 'bundle.tar.gz');
    writeFileSync(file, next.bytes);
    const ops = nats.login('ops');
    await execFileAsync(tool('nats'), [
      '--server',
      url,
      ...(ops ? ['--user', ops.user, '--password', ops.password] : []),
      'obj',
      'put',
      DEFAULT_POLICY_BUCKET,
      '--name',
      BUNDLE_OBJECT,
      '--force',
      '--no-progress',
      file,
    ]);
    await waitUntil(() => revisions().every((r) => r === next.revision), {
      message: 'both replicas to swap',
    });
  });

  it('starts a new replica with the bucket bundle rather than its local sources', async () => {
    const expected = revisions()[0];
    const { replica } = await startReplica(copyOfPolicies());
    expect(replica.holder.info()).toMatchObject({
      revision: expected,
      source: `object-store ${DEFAULT_POLICY_BUCKET}/${BUNDLE_OBJECT}`,
    });
    expect(replica.holder.status().failed_reloads).toBe(0);
  });
});

describe('a replica watching its sources (dev)', () => {
  it('starts from its directory, not the bundle left in the bucket, and still takes new puts', async () => {
    const nc = await nats.connect('policy');
    connections.push(nc);
    const dir = copyOfPolicies();
    const dev = await startPolicyService(
      nc,
      { dir, opaBin: opaBin(), bucket: DEFAULT_POLICY_BUCKET, watch: true },
      capturingLogger().logger,
    );
    replicas.push(dev);
    expect(revisions().filter((r) => r !== dev.holder.revision)).toHaveLength(replicas.length - 1);
    expect(dev.holder.info().source).toBe(`directory ${dir}`);

    const next = await bundleWithThreshold(3500);
    await putBundle(store, next.bytes, next.revision);
    await waitUntil(() => revisions().every((r) => r === next.revision), {
      message: 'every replica to swap',
    });
  });
});

describe('a broken bundle in the bucket at start-up', () => {
  it('is reported, and the replica starts from its local sources instead', async () => {
    await putBundle(store, new TextEncoder().encode('not a bundle'), 'broken');
    const dir = copyOfPolicies();
    const { replica, lines } = await startReplica(dir);
    expect(replica.holder.info().source).toBe(`directory ${dir}`);
    expect(replica.holder.status()).toMatchObject({
      failed_reloads: 1,
      last_error: { kind: 'invalid_bundle' },
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'policy rejected: keeping the last good policy' }),
    );
  });
});

describe('after a nats-server restart', () => {
  it('replicas re-establish the watch and still swap to a newly published bundle', async () => {
    if (!server) throw new Error('useTestNats({ own: true }) always starts a server');
    await server.restart();
    const next = await bundleWithThreshold(4000);
    // The publisher retries until JetStream is back, as an operator would.
    await waitUntil(() => putBundle(store, next.bytes, next.revision).then(() => true), {
      timeout: 20_000,
      interval: 250,
      message: 'the bucket to accept a put after the restart',
    });
    await waitUntil(() => revisions().every((r) => r === next.revision), {
      timeout: 30_000,
      message: 'every replica to swap after the restart',
    });
    expect((await callEndpoint(client, 'evaluate', payment1500)).revision).toBe(next.revision);
  });
});

describe('pnpm policy publish (src/cli.ts)', () => {
  const cli = (args: string[]) =>
    execFileAsync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'services/policy/src/cli.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...nats.env('ops'), DIRECTORY_FILE: TEST_DIRECTORY_FILE, OPA_BIN: opaBin() },
        timeout: 60_000,
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        code: err.code ?? -1,
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? '',
      }),
    );

  it('builds, validates and publishes a directory, printing the revision every replica then runs', async () => {
    const dir = copyOfPolicies();
    setThreshold(dir, 'payment_amount', 3000);
    const { code, stdout } = await cli(['publish', '--direct', '--dir', dir]);
    expect(code).toBe(0);
    const revision = /published (sha256:[0-9a-f]{16})/.exec(stdout)?.[1];
    expect(revision).toBeDefined();
    await waitUntil(() => replicas.every((r) => r.holder.revision === revision), {
      message: 'replicas to swap',
    });
  });

  it('refuses to publish a policy that fails the checks, leaving the bucket untouched', async () => {
    const before = (await store.info(BUNDLE_OBJECT))?.nuid;
    const dir = copyOfPolicies();
    writeFileSync(join(dir, 'countersign/broken.rego'), 'package countersign.decision\n\nx := input.y +\n');
    const { code, stderr } = await cli(['publish', '--direct', '--dir', dir]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/build_failed: .*broken\.rego/);
    expect((await store.info(BUNDLE_OBJECT))?.nuid).toBe(before);
  });
});
