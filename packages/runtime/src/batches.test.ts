import { describe, expect, it } from 'vitest';
import { batches } from './batches.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Yields each group's items back to back (buffered), with a real wait between groups. */
async function* groups(sizes: number[], gapMs = 20): AsyncGenerator<number> {
  let n = 0;
  for (const [i, size] of sizes.entries()) {
    if (i > 0) await sleep(gapMs);
    for (let k = 0; k < size; k++) yield n++;
  }
}

async function collect(source: AsyncIterable<number>, max: number): Promise<number[][]> {
  const out: number[][] = [];
  for await (const batch of batches(source, max)) out.push(batch);
  return out;
}

describe('batches', () => {
  it('puts what arrived together in one batch, and what comes later in the next', async () => {
    expect((await collect(groups([5, 3]), 100)).map((b) => b.length)).toEqual([5, 3]);
  });

  it('never exceeds the maximum size', async () => {
    const out = await collect(groups([10]), 4);
    expect(out).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it('hands over the last item of a burst at once, without waiting for the next one', async () => {
    const source = groups([3, 1], 500);
    const started = performance.now();
    const iterator = batches(source, 100)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual([0, 1, 2]);
    expect(performance.now() - started).toBeLessThan(250);
    expect((await iterator.next()).value).toEqual([3]);
    expect((await iterator.next()).done).toBe(true);
  });
});
