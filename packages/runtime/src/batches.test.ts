import { describe, expect, it } from 'vitest';
import { batches } from './batches.js';

/**
 * A source that yields each group's items back to back (buffered), and holds the next group
 * until the consumer has received a batch: "later" is an ordering, never a guess at time.
 */
function groups(sizes: number[]) {
  let received: () => void = () => {};
  let batchSeen = new Promise<void>((resolve) => {
    received = resolve;
  });
  async function* source(): AsyncGenerator<number> {
    let n = 0;
    for (const [i, size] of sizes.entries()) {
      if (i > 0) {
        await batchSeen;
        batchSeen = new Promise<void>((resolve) => {
          received = resolve;
        });
      }
      for (let k = 0; k < size; k++) yield n++;
    }
  }
  return { source: source(), received: () => received() };
}

async function collect(sizes: number[], max: number): Promise<number[][]> {
  const { source, received } = groups(sizes);
  const out: number[][] = [];
  for await (const batch of batches(source, max)) {
    out.push(batch);
    received();
  }
  return out;
}

describe('batches', () => {
  it('puts what arrived together in one batch, and what comes later in the next', async () => {
    expect((await collect([5, 3], 100)).map((b) => b.length)).toEqual([5, 3]);
  });

  it('never exceeds the maximum size', async () => {
    const out = await collect([10], 4);
    expect(out).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it('hands over the last item of a burst at once, without waiting for the next one', async () => {
    // The second group comes only after the first batch was handed over: a batcher that waited
    // for the next item before handing over the burst would never return (the test times out).
    const { source, received } = groups([3, 1]);
    const iterator = batches(source, 100)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual([0, 1, 2]);
    received();
    expect((await iterator.next()).value).toEqual([3]);
    expect((await iterator.next()).done).toBe(true);
  });
});
