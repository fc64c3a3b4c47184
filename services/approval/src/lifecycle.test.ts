import { ApprovalRequest, CountersignError, PolicyDecision } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import {
  closedError,
  containsUnstorable,
  invalidRequestDecision,
  requestHash,
  storable,
} from './lifecycle.js';

describe('requestHash', () => {
  it('is the same for the same content in any key order, and differs for other content', () => {
    const a = ApprovalRequest.parse({
      action_id: 'a',
      action_type: 't',
      description: 'd',
      requested_by: 'r',
      context: { x: 1, y: 2 },
    });
    const b = ApprovalRequest.parse({
      context: { y: 2, x: 1 },
      requested_by: 'r',
      description: 'd',
      action_type: 't',
      action_id: 'a',
    });
    expect(requestHash(a)).toBe(requestHash(b));
    expect(requestHash({ ...a, description: 'other' })).not.toBe(requestHash(a));
    // Defaults are part of the parsed request: an omitted context equals an empty one.
    const c = ApprovalRequest.parse({
      action_id: 'a',
      action_type: 't',
      description: 'd',
      requested_by: 'r',
    });
    expect(requestHash(c)).toBe(requestHash({ ...c, context: {} }));
  });
});

describe('containsUnstorable', () => {
  it('finds U+0000 anywhere in a value (Postgres text cannot store it)', () => {
    expect(containsUnstorable({ a: ['x', { b: 'y\u0000' }] })).toBe(true);
    expect(containsUnstorable({ 'k\u0000': 1 })).toBe(true);
    expect(containsUnstorable({ a: 'plain \\u0000 text' })).toBe(false);
  });

  it('finds unpaired UTF-16 surrogates (jsonb refuses them), not the pairs of astral characters', () => {
    expect(containsUnstorable({ a: 'half \ud800' })).toBe(true);
    expect(containsUnstorable({ '\udfff': 1 })).toBe(true);
    expect(containsUnstorable({ a: 'emoji \u{1F600} and \ud83d\ude00' })).toBe(false);
    expect(storable(['x\ud800y'])).toEqual(['x\ufffdy']);
  });

  it('can be removed from strings and keys alike', () => {
    const cleaned = storable({ 'k\u0000': ['a\u0000b', 1, null, { x: '\u0000' }] });
    expect(cleaned).toEqual({ k: ['ab', 1, null, { x: '' }] });
    expect(containsUnstorable(cleaned)).toBe(false);
  });
});

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

describe('closedError', () => {
  const at = new Date('2025-01-01T00:00:00.000Z');
  it('says who decided and when', () => {
    const err = closedError({
      action_id: 'a',
      status: 'approved',
      decided_by: 'frank',
      decided_at: at,
      expires_at: at,
    });
    expect(err.code).toBe('already_decided');
    expect(err.details).toEqual({
      action_id: 'a',
      status: 'approved',
      decided_by: 'frank',
      decided_at: at.toISOString(),
    });
  });

  it('answers expired for an expired approval', () => {
    const err = closedError({
      action_id: 'a',
      status: 'expired',
      decided_by: 'countersign',
      decided_at: at,
      expires_at: at,
    });
    expect(err.code).toBe('expired');
    expect(err.details).toMatchObject({ status: 'expired', expires_at: at.toISOString() });
  });
});
