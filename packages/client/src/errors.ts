import { type Approval, CountersignError, type ErrorCode } from '@countersign/contracts';

/** A command was refused: self-approval, a missing approver role, a double vote, ... */
export class ForbiddenError extends CountersignError {
  override name = 'ForbiddenError';
}
/** The approval already reached a terminal status; `details` says which, who and when. */
export class AlreadyDecidedError extends CountersignError {
  override name = 'AlreadyDecidedError';
}
export class NotFoundError extends CountersignError {
  override name = 'NotFoundError';
}
/** The same action_id was submitted before with different content. */
export class IdempotencyConflictError extends CountersignError {
  override name = 'IdempotencyConflictError';
}
export class InvalidRequestError extends CountersignError {
  override name = 'InvalidRequestError';
}
export class PayloadTooLargeError extends CountersignError {
  override name = 'PayloadTooLargeError';
}
/**
 * A command (decide, cancel, ...) was refused because the approval had already expired (code
 * `expired`). Not to be confused with {@link ApprovalExpiredError}, the outcome a waiting
 * requester gets when its approval expires undecided.
 */
export class AlreadyExpiredError extends CountersignError {
  override name = 'AlreadyExpiredError';
}
/** A dependency is down or did not answer in time; retrying later is safe. */
export class UnavailableError extends CountersignError {
  override name = 'UnavailableError';
}
export class InternalError extends CountersignError {
  override name = 'InternalError';
}

const byCode: Record<ErrorCode, typeof CountersignError> = {
  invalid_request: InvalidRequestError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  already_decided: AlreadyDecidedError,
  idempotency_conflict: IdempotencyConflictError,
  expired: AlreadyExpiredError,
  payload_too_large: PayloadTooLargeError,
  internal: InternalError,
  unavailable: UnavailableError,
};

/** Rebuilds the typed error for a code received over the wire. */
export function typedError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  options?: ErrorOptions,
): CountersignError {
  const ErrorClass = byCode[code];
  return new ErrorClass(code, message, details, options);
}

/** Base of the outcomes a waiting caller can get instead of an approval. */
export abstract class ApprovalOutcomeError extends Error {
  constructor(
    message: string,
    /** The decided approval, with who decided and why. */
    readonly approval: Approval,
  ) {
    super(message);
  }
}

export class ApprovalRejectedError extends ApprovalOutcomeError {
  override name = 'ApprovalRejectedError';
}
/**
 * What a waiting requester gets when its approval expired without a decision. A command sent
 * to an already expired approval is refused with {@link AlreadyExpiredError} instead.
 */
export class ApprovalExpiredError extends ApprovalOutcomeError {
  override name = 'ApprovalExpiredError';
}
export class ApprovalCancelledError extends ApprovalOutcomeError {
  override name = 'ApprovalCancelledError';
}

/**
 * The caller's own wait ran out. The approval itself is untouched and still pending: wait
 * again later, or cancel it.
 */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  constructor(
    readonly actionId: string,
    readonly timeoutMs: number,
  ) {
    super(`no decision for ${actionId} within ${timeoutMs} ms (the approval is still pending)`);
  }
}

/** Throws the typed outcome error for a terminal approval that is not `approved`. */
export function outcomeOf(approval: Approval): Approval {
  const who = approval.decided_by ?? 'unknown';
  const why = approval.decision_reason ? `: ${approval.decision_reason}` : '';
  switch (approval.status) {
    case 'approved':
      return approval;
    case 'rejected':
      throw new ApprovalRejectedError(`${approval.action_id} was rejected by ${who}${why}`, approval);
    case 'expired':
      throw new ApprovalExpiredError(`${approval.action_id} expired without a decision`, approval);
    case 'cancelled':
      throw new ApprovalCancelledError(`${approval.action_id} was cancelled by ${who}${why}`, approval);
    case 'pending':
      throw new Error(`${approval.action_id} is still pending`);
  }
}
