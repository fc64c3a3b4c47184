/**
 * Dev hot reload: the service process with POLICY_WATCH on a copy of policies/. Editing a
 * threshold swaps the policy while requests keep flowing, and a broken edit changes nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import { type ServiceProcess, spawnService, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceRevision } from '../src/bundle.js';
import { copyOfPolicies, evaluateRequest, type LoadResult, setThreshold, startLoad } from './support.js';

// Top level, not in beforeAll: the fixtures register their own afterAll cleanup, which vitest
// only honours while the file is being collected.
const nats = await useTestNats();
const { url } = nats;
const dir = copyOfPolicies();
const service: ServiceProcess = await spawnService('policy', {
  env: {
    NATS_URL: url,
    POLICY_DIR: dir,
    POLICY_WATCH: 'true',
    POLICY_WATCH_INTERVAL: '100ms',
    // Only the directory is followed here; the bucket has its own test file.
    POLICY_BUCKET: '',
  },
});
const nc: NatsConnection = await nats.connect();
afterAll(async () => {
  await nc.drain();
});

const info = () => callEndpoint(nc, 'policyInfo', {});
const payment1500 = evaluateRequest({ context: { amount: 1500 } });

/** Every reply matches its revision, and once a new revision answered, no later request got the old. */
function expectAtomicSwap(result: LoadResult, before: string, after: string) {
  expect(result.failures).toEqual([]);
  const revisions = new Set(result.samples.map((s) => s.revision));
  expect(revisions).toEqual(new Set([before, after]));
  for (const s of result.samples) {
    expect(s.outcome).toBe(s.revision === before ? 'needs_approval' : 'auto_approve');
  }
  const firstNew = Math.min(...result.samples.filter((s) => s.revision === after).map((s) => s.received));
  expect(result.samples.filter((s) => s.sent > firstNew && s.revision === before)).toEqual([]);
}

describe('POLICY_WATCH', () => {
  it('swaps to an edited threshold, with no failed request under load', async () => {
    const before = await info();
    expect(before.revision).toBe(await sourceRevision(dir));
    const load = startLoad(nc, payment1500);
    await waitUntil(() => load.samples.length >= 20, { message: 'load to flow' });

    setThreshold(dir, 'payment_amount', 2000);
    // How soon is not what this tests (a poll, then an `opa build` on a shared machine): only
    // that the swap comes, and that it is atomic under load.
    const after = await waitUntil(
      async () => {
        const current = await info();
        return current.revision !== before.revision && current;
      },
      { timeout: 30_000, message: 'the edited policy to be swapped in' },
    );
    const seenNew = () => load.samples.filter((s) => s.revision === after.revision).length;
    await waitUntil(() => seenNew() >= 20, { message: 'replies from the new revision' });
    const result = await load.stop();

    expect(after.revision).toBe(await sourceRevision(dir));
    expect(after.source).toBe(`directory ${dir}`);
    expectAtomicSwap(result, before.revision, after.revision);
  });

  it('keeps the last good policy when an edit does not compile, and takes the next good edit', async () => {
    const good = await info();
    const broken = join(dir, 'countersign/broken.rego');
    writeFileSync(broken, 'package countersign.decision\n\nx := input.y +\n');
    const rejected = await waitUntil(() =>
      service
        .logs()
        .filter((l) => l.includes('"msg":"policy rejected'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => String(l.reason).includes('broken.rego')),
    );
    expect(rejected).toMatchObject({ kind: 'build_failed', kept_revision: good.revision });
    expect((await info()).revision).toBe(good.revision);
    expect((await callEndpoint(nc, 'evaluate', payment1500)).revision).toBe(good.revision);

    writeFileSync(broken, 'package countersign.decision\n\nunused_helper := 1\n');
    const fixed = await waitUntil(async () => {
      const current = await info();
      return current.revision !== good.revision && current;
    });
    expect(fixed.revision).toBe(await sourceRevision(dir));
    expect((await callEndpoint(nc, 'evaluate', payment1500)).outcome).toBe('auto_approve');
  });
});

describe('start-up', () => {
  it('refuses to start without a valid policy, saying why', async () => {
    const broken = copyOfPolicies();
    writeFileSync(
      join(broken, 'countersign/broken.rego'),
      'package countersign.decision\n\nx := input.y +\n',
    );
    // The harness reports the failed start with the process's last log lines, in whatever
    // order the two log lines were flushed.
    const started = spawnService('policy', {
      env: { NATS_URL: url, POLICY_DIR: broken, POLICY_BUCKET: '' },
      autoStop: false,
      timeout: 5000,
    });
    await expect(started).rejects.toThrow(/"kind":"build_failed".*broken\.rego/);
    // One fatal line naming what could not be loaded and the variable that points at it.
    await expect(started).rejects.toThrow(
      /"level":60.*"dependency":"policy".*"variable":"POLICY_DIR".*"msg":"no valid policy to serve: directory .*\(POLICY_DIR\)/,
    );
  });
});
