import { ApprovalRequest } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { requestHash } from './submission.js';

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
