export interface WaitOptions {
  timeout?: number;
  interval?: number;
  /** Described in the timeout error. */
  message?: string;
}

/**
 * Polls until `check` returns a value other than undefined/false, and returns it. Tests wait on
 * conditions, never on fixed sleeps.
 */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, undefined | false | null>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 25;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) {
        return value as Exclude<T, undefined | false | null>;
      }
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${options.message ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
