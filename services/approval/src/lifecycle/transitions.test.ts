import { describe, expect, it } from 'vitest';
import { closedError } from './transitions.js';

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
