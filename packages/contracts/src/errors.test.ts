import { describe, expect, it } from 'vitest';
import { CountersignError, isCountersignError } from './errors.js';

describe('isCountersignError', () => {
  it('recognises a CountersignError by its code, whichever copy of the package made it', () => {
    expect(isCountersignError(new CountersignError('forbidden', 'no'))).toBe(true);
    // What a second copy of this package makes: the same shape from another class.
    class CountersignErrorFromAnotherCopy extends Error {
      readonly code = 'not_found';
    }
    const foreign = new CountersignErrorFromAnotherCopy('missing');
    expect(foreign).not.toBeInstanceOf(CountersignError);
    expect(isCountersignError(foreign)).toBe(true);
  });

  it('refuses errors with other codes and values that are not errors', () => {
    expect(isCountersignError(new Error('plain'))).toBe(false);
    expect(isCountersignError(Object.assign(new Error('socket'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isCountersignError({ code: 'forbidden', message: 'not an Error' })).toBe(false);
    expect(isCountersignError(undefined)).toBe(false);
  });
});
