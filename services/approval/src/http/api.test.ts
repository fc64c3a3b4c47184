import type { CountersignError } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { actingAs } from './api.js';

function refusal(body: Record<string, unknown>): CountersignError {
  try {
    actingAs(body, 'decided_by', 'frank');
  } catch (err) {
    return err as CountersignError;
  }
  throw new Error('expected a refusal');
}

describe('actingAs', () => {
  it('takes the credential identity when the body names nobody', () => {
    expect(actingAs({ approved: true }, 'decided_by', 'frank')).toEqual({
      approved: true,
      decided_by: 'frank',
    });
  });

  it('compares names canonically: case, surrounding space and NFKC forms are the same person', () => {
    for (const named of ['frank', 'Frank', 'FRANK', ' frank ', '\uff46\uff52\uff41\uff4e\uff4b']) {
      expect(actingAs({ decided_by: named }, 'decided_by', 'frank'), named).toEqual({ decided_by: 'frank' });
    }
  });

  it('refuses someone else as actor_mismatch', () => {
    const error = refusal({ decided_by: 'Alice' });
    expect(error.code).toBe('forbidden');
    expect(error.details).toMatchObject({ reasons: [{ code: 'actor_mismatch' }] });
  });

  it('refuses names that only look like one (zero-width, bidi, mixed scripts) as invalid, naming the field', () => {
    for (const named of ['fr\u200bank', '\u202efrank', 'fr\u0430nk', 'frank\u2066', 42]) {
      const error = refusal({ decided_by: named });
      expect(error.code, String(named)).toBe('invalid_request');
      expect(error.details).toMatchObject({ fields: [{ path: 'decided_by' }] });
    }
  });
});
