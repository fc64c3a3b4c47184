import { describe, expect, it } from 'vitest';
import { nextRetryDelay, parseRetryAfter, type RetryPolicy } from './backoff.js';

const policy: RetryPolicy = { schedule: [0, 5000, 300_000], jitter: 0.2, maxRetryAfterMs: 3_600_000 };

describe('retry schedule', () => {
  it('follows the schedule with bounded jitter, then gives up', () => {
    expect(nextRetryDelay(policy, 1, undefined, () => 0)).toBe(4000);
    expect(nextRetryDelay(policy, 1, undefined, () => 0.999999)).toBe(6000);
    expect(nextRetryDelay(policy, 2, undefined, () => 0.5)).toBe(300_000);
    expect(nextRetryDelay(policy, 0, undefined, () => 0.9)).toBe(0);
    expect(nextRetryDelay(policy, 3)).toBeUndefined();
  });

  it('waits for Retry-After when it asks for longer, capped', () => {
    expect(nextRetryDelay(policy, 1, 60_000, () => 0.5)).toBe(60_000);
    expect(nextRetryDelay(policy, 1, 1000, () => 0.5)).toBe(5000);
    expect(nextRetryDelay(policy, 1, 10 * 3_600_000, () => 0.5)).toBe(3_600_000);
    // Retry-After never extends the number of attempts.
    expect(nextRetryDelay(policy, 3, 1000)).toBeUndefined();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
