import { type Approval, ERROR_CODE_NAMES } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import {
  AlreadyDecidedError,
  AlreadyExpiredError,
  ApprovalCancelledError,
  ApprovalExpiredError,
  ApprovalRejectedError,
  outcomeOf,
  typedError,
} from './errors.js';

const approval = (status: Approval['status']) =>
  ({ action_id: 'a1', status, decided_by: 'frank', decision_reason: 'no' }) as Approval;

describe('typedError', () => {
  it('gives every wire code its own class, keeping code and details', () => {
    const names = ERROR_CODE_NAMES.map((code) => typedError(code, 'm').name);
    expect(new Set(names).size).toBe(ERROR_CODE_NAMES.length);
    const err = typedError('expired', 'approval a1 expired at t', { status: 'expired' });
    expect(err).toBeInstanceOf(AlreadyExpiredError);
    expect(err).toMatchObject({ code: 'expired', details: { status: 'expired' } });
    expect(typedError('already_decided', 'm')).toBeInstanceOf(AlreadyDecidedError);
  });
});

describe('outcomeOf', () => {
  it('turns a terminal approval into its outcome: the approval, or the outcome error', () => {
    expect(outcomeOf(approval('approved')).status).toBe('approved');
    expect(() => outcomeOf(approval('rejected'))).toThrow(ApprovalRejectedError);
    expect(() => outcomeOf(approval('expired'))).toThrow(ApprovalExpiredError);
    expect(() => outcomeOf(approval('cancelled'))).toThrow(ApprovalCancelledError);
    // The wait outcome and the refused command are different errors.
    expect(() => outcomeOf(approval('expired'))).not.toThrow(AlreadyExpiredError);
  });
});
