import { describe, expect, it } from 'vitest';
import { SignInLimiter } from './rate-limit.js';

describe('SignInLimiter', () => {
  it('allows a burst of perMinute attempts per address, then refills at perMinute per minute', () => {
    const limiter = new SignInLimiter({ perMinute: 3 });
    const t0 = 1_000_000;
    expect([1, 2, 3].map(() => limiter.tryTake('a', t0))).toEqual([0, 0, 0]);
    expect(limiter.tryTake('a', t0)).toBe(20_000);
    // Another address has its own bucket.
    expect(limiter.tryTake('b', t0)).toBe(0);
    expect(limiter.tryTake('a', t0 + 19_999)).toBeGreaterThan(0);
    expect(limiter.tryTake('a', t0 + 20_000 + 19_999)).toBe(0);
    expect(limiter.tryTake('a', t0 + 20_000 + 19_999)).toBeGreaterThan(0);
  });

  it('forgets the least recently seen address beyond maxClients (a fresh bucket, never a shared one)', () => {
    const limiter = new SignInLimiter({ perMinute: 1, maxClients: 2 });
    expect(limiter.tryTake('a', 0)).toBe(0);
    expect(limiter.tryTake('b', 0)).toBe(0);
    expect(limiter.tryTake('c', 0)).toBe(0);
    expect(limiter.tryTake('c', 0)).toBeGreaterThan(0);
    expect(limiter.tryTake('a', 0)).toBe(0);
  });
});
