import { CountersignError, PolicyDecision } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { invalidRequestDecision } from './invalid.js';

describe('invalidRequestDecision', () => {
  it('is a valid PolicyDecision that denies, with the validation error as its reason', () => {
    const decision = invalidRequestDecision(
      new CountersignError('invalid_request', 'invalid request: description: required'),
    );
    expect(PolicyDecision.parse(decision)).toEqual(decision);
    expect(decision).toMatchObject({
      outcome: 'deny',
      revision: 'none',
      reasons: [{ code: 'invalid_request' }],
    });
  });
});
