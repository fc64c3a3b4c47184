import { CountersignError } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from './queries.js';

describe('list cursors', () => {
  it('round-trip as opaque base64url', () => {
    const cursor = { created_at: '2025-01-01T00:00:00.123Z', action_id: 'pay-1' };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual(cursor);
  });

  it('refuse anything this service did not issue with invalid_request', () => {
    for (const bad of [
      'x',
      Buffer.from('{"a":1}').toString('base64url'),
      encodeCursor({ created_at: 'nope', action_id: 'a' }),
    ]) {
      const err = (() => {
        try {
          decodeCursor(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(CountersignError);
      expect((err as CountersignError).code).toBe('invalid_request');
    }
  });
});
