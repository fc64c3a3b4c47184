/**
 * When to try a failed delivery again. The schedule lists the delay before each attempt (the
 * first entry, usually 0, is the first attempt), like Svix: immediately, 5 s, 5 min, 30 min,
 * 2 h, ... A delivery gets as many attempts as the schedule has entries.
 */
export interface RetryPolicy {
  /** Delay before attempt n+1, in ms. */
  schedule: readonly number[];
  /** Relative jitter, 0..1: 0.2 spreads a delay over ±20 % so failed deliveries do not retry in lockstep. */
  jitter: number;
  /** Upper bound for a receiver's Retry-After, in ms: a hostile receiver cannot park a delivery forever. */
  maxRetryAfterMs: number;
}

/**
 * Delay before the next attempt after `attemptsMade` attempts, or undefined when the schedule
 * is exhausted. A receiver's Retry-After is honoured when it asks for longer than the schedule.
 */
export function nextRetryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number | undefined {
  const base = policy.schedule[attemptsMade];
  if (base === undefined) return undefined;
  const spread = base * policy.jitter;
  const jittered = Math.max(0, Math.round(base - spread + random() * 2 * spread));
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, policy.maxRetryAfterMs));
}

/** Parses a Retry-After header (delta seconds or an HTTP date) to ms from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
