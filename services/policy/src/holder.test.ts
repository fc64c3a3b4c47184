import { CountersignError } from '@countersign/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildBytes,
  capturingLogger,
  copyOfPolicies,
  rolesDirectory,
  setThreshold,
} from '../test/support.js';
import { readBundle } from './bundle.js';
import { PolicyEngine } from './engine.js';
import { PolicyLoadError } from './errors.js';
import { PolicyHolder } from './holder.js';

describe('PolicyHolder', () => {
  let first: PolicyEngine;
  let second: PolicyEngine;
  beforeAll(async () => {
    const dir = copyOfPolicies();
    first = await PolicyEngine.load(readBundle(await buildBytes(dir)));
    setThreshold(dir, 'payment_amount', 2000);
    second = await PolicyEngine.load(readBundle(await buildBytes(dir)));
  });

  it('is unavailable until a policy is loaded', async () => {
    const holder = new PolicyHolder(capturingLogger().logger);
    for (const read of [() => holder.current(), () => holder.info()]) {
      expect(read).toThrow(CountersignError);
      expect(read).toThrow(expect.objectContaining({ code: 'unavailable' }));
    }
    await holder.swap('test', async () => first);
    expect(holder.info()).toMatchObject({ revision: first.revision, source: 'test' });
  });

  it('keeps the last good policy when a candidate is refused, and reports why', async () => {
    const { logger, lines } = capturingLogger();
    const holder = new PolicyHolder(logger);
    await holder.swap('dir', async () => first);
    const result = await holder.swap('bucket', async () => {
      throw new PolicyLoadError('missing_entrypoint', 'bundle lacks entrypoint x');
    });
    expect(result).toEqual({
      swapped: false,
      kind: 'missing_entrypoint',
      message: 'bundle lacks entrypoint x',
      revision: first.revision,
    });
    expect(holder.current().engine).toBe(first);
    expect(holder.status()).toMatchObject({
      revision: first.revision,
      reloads: 0,
      failed_reloads: 1,
      last_error: { source: 'bucket', kind: 'missing_entrypoint' },
    });
    expect(lines.at(-1)).toMatchObject({
      level: 50,
      msg: 'policy rejected: keeping the last good policy',
      kept_revision: first.revision,
    });
  });

  it('swaps one candidate at a time, in order', async () => {
    const holder = new PolicyHolder(capturingLogger().logger);
    const order: string[] = [];
    let release: () => void = () => {};
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const a = holder.swap('a', async () => {
      order.push('a start');
      await slow;
      order.push('a end');
      return first;
    });
    const b = holder.swap('b', async () => {
      order.push('b start');
      return second;
    });
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a start', 'a end', 'b start']);
    expect(holder.current()).toMatchObject({ engine: second, source: 'b', revision: second.revision });
    expect(holder.status().reloads).toBe(1);
  });

  const carolPays = {
    action_id: 'p1',
    action_type: 'payment',
    description: 'x',
    context: { amount: 1500 },
    requested_by: 'carol',
    now: '2026-11-21T10:00:00.000Z',
  };

  it('serves new roles at once when the directory changes, and says which directory', async () => {
    const { logger, lines } = capturingLogger();
    const holder = new PolicyHolder(logger, rolesDirectory({ carol: ['admin'] }, 'd1'));
    await holder.swap('dir', async (directory) => first.withDirectory(directory));
    expect(holder.info()).toMatchObject({ revision: first.revision, directory_revision: 'd1' });
    expect(holder.current().engine.decide(carolPays).result.outcome).toBe('auto_approve');

    holder.useDirectory(rolesDirectory({ carol: [] }, 'd2'));
    expect(holder.info()).toMatchObject({ revision: first.revision, directory_revision: 'd2' });
    expect(holder.status().directory_revision).toBe('d2');
    expect(holder.current().engine.decide(carolPays).result.outcome).toBe('needs_approval');
    expect(lines.at(-1)).toMatchObject({
      msg: 'policy roles reloaded from the directory',
      directory_revision: 'd2',
      previous_directory_revision: 'd1',
    });
    // A later bundle serves with the directory in force, not the one it was built beside.
    await holder.swap('bucket', async (directory) => second.withDirectory(directory));
    expect(holder.current()).toMatchObject({ revision: second.revision, directory_revision: 'd2' });
  });

  it('a directory change while a candidate loads is applied to the candidate', async () => {
    const holder = new PolicyHolder(capturingLogger().logger, rolesDirectory({ carol: ['admin'] }, 'd1'));
    let release: () => void = () => {};
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const swapping = holder.swap('dir', async (directory) => {
      await slow;
      return first.withDirectory(directory);
    });
    holder.useDirectory(rolesDirectory({ carol: [] }, 'd2'));
    release();
    await swapping;
    expect(holder.current().directory_revision).toBe('d2');
    expect(holder.current().engine.decide(carolPays).result.outcome).toBe('needs_approval');
  });

  it('keeps the roles in force when the policy cannot take a directory, and reports it', async () => {
    const { logger, lines } = capturingLogger();
    const holder = new PolicyHolder(logger, rolesDirectory({ carol: ['admin'] }, 'd1'));
    await holder.swap('dir', async (directory) => first.withDirectory(directory));
    // Roles that cannot be written into the module's memory (not JSON).
    holder.useDirectory({ revision: 'd2', roles: { carol: [10n as unknown as string] } });
    expect(holder.current().directory_revision).toBe('d1');
    expect(holder.current().engine.decide(carolPays).result.outcome).toBe('auto_approve');
    expect(holder.status()).toMatchObject({ failed_reloads: 1, last_error: { source: 'directory' } });
    expect(lines.at(-1)).toMatchObject({ level: 50, kept_directory_revision: 'd1' });
  });
});
