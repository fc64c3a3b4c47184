import { CountersignError } from '@countersign/contracts';

/**
 * Turns anything caught into a CountersignError. Unknown failures become `internal` with a
 * generic message: their text may carry internals (SQL, stack) that callers must not see.
 */
export function coerceError(err: unknown): CountersignError {
  if (err instanceof CountersignError) return err;
  return new CountersignError('internal', 'internal error', undefined, { cause: err });
}

/** An error that a message consumer should retry (`nak` with delay) rather than give up on. */
export function isRetryable(err: unknown): boolean {
  const e = coerceError(err);
  return e.code === 'unavailable' || e.code === 'internal';
}
