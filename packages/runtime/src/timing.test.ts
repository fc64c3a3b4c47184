import { describe, expect, it } from 'vitest';
import { backoffDelay, sleeper } from './timing.js';

describe('backoffDelay', () => {
  it('doubles per attempt up to the cap, jittered down by at most a quarter', () => {
    const max = () => 1;
    expect([1, 2, 3, 4, 10, 100].map((n) => backoffDelay(n, 100, 1000, max))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(75);
    expect(backoffDelay(0, 100, 1000, max)).toBe(100);
  });
});

describe('sleeper', () => {
  it('wakes a sleep early, and a wake before sleeping skips the next sleep', async () => {
    const s = sleeper();
    const started = Date.now();
    const sleeping = s.sleep(10_000);
    s.wake();
    await sleeping;
    s.wake();
    await s.sleep(10_000);
    // The behaviour under test is time itself: two 10 s sleeps that both return at once (a few
    // ms). 1 s is hundreds of times that, and a tenth of one sleep that was not cut short.
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
