export { type CallOptions, callEndpoint, readReply } from './call.js';
export {
  type ClientOptions,
  CountersignClient,
  type NewApprovalRequest,
  newActionId,
  type RequestReceipt,
} from './client.js';
export {
  AlreadyDecidedError,
  AlreadyExpiredError,
  ApprovalCancelledError,
  ApprovalExpiredError,
  ApprovalOutcomeError,
  ApprovalRejectedError,
  ForbiddenError,
  IdempotencyConflictError,
  InternalError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  typedError,
  UnavailableError,
  WaitTimeoutError,
} from './errors.js';
export { type RequireApprovalOptions, requireApproval } from './gate.js';
export {
  requestBillingApproval,
  requestCodeExecutionApproval,
  requestDeploymentApproval,
} from './helpers.js';
export {
  listPaused,
  type PauseOptions,
  pause,
  type ResumeOptions,
  type ResumeResult,
  resume,
  TASK_PAUSE,
} from './pause.js';
export {
  checkApprovalReceipt,
  type ReceiptErrorCode,
  type ReceiptExpectation,
  ReceiptInvalidError,
  ReceiptKeys,
  receiptKid,
  receiptSha256,
  verifyReceipt,
} from './receipts.js';
export type { WaitLogger, WaitOptions } from './wait.js';
