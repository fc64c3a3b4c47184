import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@countersign/runtime';
import { waitUntil } from '@countersign/test-fixtures';
import { afterEach, describe, expect, it } from 'vitest';
import { policyDir } from '../test/support.js';
import { sourceRevision } from './bundle.js';
import { type Watcher, watchPolicyDir } from './watch-dir.js';

const logger = createLogger({ service: 'policy', level: 'silent' });

describe('watchPolicyDir', () => {
  let watcher: Watcher | undefined;
  afterEach(async () => {
    await watcher?.stop();
  });

  it('calls onChange once per settled change, with the new revision, and not for other files', async () => {
    const dir = policyDir({ 'countersign/data.json': '{"a": 1}', 'README.md': 'docs' });
    const seen: string[] = [];
    watcher = watchPolicyDir({
      dir,
      initialRevision: await sourceRevision(dir),
      intervalMs: 50,
      logger,
      onChange: async (revision) => {
        seen.push(revision);
      },
    });

    writeFileSync(join(dir, 'README.md'), 'edited docs');
    writeFileSync(join(dir, 'countersign/data.json'), '{"a": 2}');
    const expected = await sourceRevision(dir);
    await waitUntil(() => seen.length === 1, { message: 'the first change' });
    expect(seen).toEqual([expected]);

    writeFileSync(join(dir, 'countersign/new.rego'), 'package countersign.x\n');
    await waitUntil(() => seen.length === 2, { message: 'the second change' });
    expect(seen[1]).toBe(await sourceRevision(dir));
    expect(seen[1]).not.toBe(expected);
  });

  it('stops polling when stopped', async () => {
    const dir = policyDir({ 'p.rego': 'package p\n' });
    let calls = 0;
    watcher = watchPolicyDir({
      dir,
      initialRevision: 'sha256:stale',
      intervalMs: 20,
      logger,
      onChange: async () => {
        calls++;
      },
    });
    await waitUntil(() => calls === 1, { message: 'the stale revision to be replaced' });
    await watcher.stop();
    // A change after stop must not be acted on. A second watcher on the same directory, same
    // interval, is the witness, instead of a sleep that guesses how long: once it has acted on
    // that change and on a second one after it, a watcher still polling (it started earlier)
    // would have acted on the first change too.
    const unchanged = await sourceRevision(dir);
    let witnessed = 0;
    const witness = watchPolicyDir({
      dir,
      initialRevision: unchanged,
      intervalMs: 20,
      logger,
      onChange: async () => {
        witnessed++;
      },
    });
    try {
      writeFileSync(join(dir, 'p.rego'), 'package p\n\nx := 1\n');
      await waitUntil(() => witnessed === 1, { message: 'the witness watcher to see the change' });
      writeFileSync(join(dir, 'p.rego'), 'package p\n\nx := 2\n');
      await waitUntil(() => witnessed === 2, { message: 'the witness watcher to see a second change' });
    } finally {
      await witness.stop();
    }
    expect(calls).toBe(1);
  });
});
