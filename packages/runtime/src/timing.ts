/**
 * Exponential backoff with jitter: `baseMs` doubled per failed attempt (1-based), capped at
 * `maxMs`, then spread over [75%, 100%] so replicas that failed together do not retry together.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const capped = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(capped * (0.75 + 0.25 * random()));
}

export interface Sleeper {
  /** Resolves after `ms`, or earlier on wake(). A wake() while awake makes the next sleep return at once. */
  sleep(ms: number): Promise<void>;
  wake(): void;
}

/** A sleep that another part of the program can cut short (a NOTIFY, new work, stop). */
export function sleeper(): Sleeper {
  let woken = false;
  let interrupt: (() => void) | undefined;
  return {
    sleep(ms) {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          interrupt = undefined;
          woken = false;
          resolve();
        }
        interrupt = done;
      });
    },
    wake() {
      if (interrupt) interrupt();
      else woken = true;
    },
  };
}
