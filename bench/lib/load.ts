/**
 * Load generators shared by the scenarios. Every loop is bounded twice, by time and by count,
 * so a stuck or unexpectedly fast system can never keep a benchmark running.
 */

export interface ClosedLoopOptions {
  /** Calls in flight at once. */
  concurrency: number;
  seconds: number;
  /** Hard cap on calls, whatever the time says. */
  maxOps?: number;
  op: () => Promise<unknown>;
}

export interface ClosedLoopResult {
  ops: number;
  errors: number;
  /** First error seen, for the report: a run full of errors must not pass for a fast one. */
  firstError?: unknown;
  elapsedMs: number;
  perSecond: number;
  latenciesMs: number[];
}

/** Keeps `concurrency` calls of `op` in flight for `seconds` (closed loop), timing each. */
export async function closedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latenciesMs: number[] = [];
  const maxOps = options.maxOps ?? 5_000_000;
  let started = 0;
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const end = start + options.seconds * 1000;
  const worker = async () => {
    while (started < maxOps && performance.now() < end) {
      started++;
      const t0 = performance.now();
      try {
        await options.op();
        latenciesMs.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  return {
    ops: latenciesMs.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    elapsedMs,
    perSecond: (latenciesMs.length / elapsedMs) * 1000,
    latenciesMs,
  };
}

export interface OpenLoopOptions {
  /** Sends per second. */
  rate: number;
  seconds: number;
  /**
   * Starts send number `index`, due at `intendedAt` (performance.now() time). Latency is
   * measured from `intendedAt`, not from when the send actually happened, so a stalled sender
   * shows up as latency instead of hiding it (coordinated omission).
   */
  fire: (index: number, intendedAt: number) => void;
}

/**
 * Sends at a fixed rate (open loop): `rate × seconds` sends, each at its scheduled time. The
 * timer sleeps until the next send is due (at least 1 ms) and catches up in a burst when the
 * event loop was busy, so the rate holds on average without the load generator spinning.
 */
export async function openLoop(options: OpenLoopOptions): Promise<{ sent: number; elapsedMs: number }> {
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (sent < due) {
        options.fire(sent, start + sent * intervalMs);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(1, start + sent * intervalMs - performance.now()));
    };
    tick();
  });
  return { sent, elapsedMs: performance.now() - start };
}

/** Resolves when `check` is true, or false after `timeoutMs`; polls every `everyMs`. */
export async function waitUntil(check: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() >= deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
