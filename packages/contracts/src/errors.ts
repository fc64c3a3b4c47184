/**
 * The error vocabulary every command and HTTP endpoint answers with. The number is the
 * HTTP status, and also the `Nats-Service-Error-Code` header on NATS replies.
 */
export const ErrorCodes = {
  invalid_request: 400,
  forbidden: 403,
  not_found: 404,
  already_decided: 409,
  idempotency_conflict: 409,
  expired: 410,
  payload_too_large: 413,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export const ERROR_CODE_NAMES = Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]];

export function statusOf(code: ErrorCode): number {
  return ErrorCodes[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/**
 * True for a {@link CountersignError} made by any copy of this package. It is recognised by
 * its `code`, not by its class: an application and the SDK it installs may each load their
 * own copy of the contracts, and `instanceof` against one copy's class is false for an error
 * made by the other.
 */
export function isCountersignError(value: unknown): value is CountersignError {
  return value instanceof Error && isErrorCode((value as { code?: unknown }).code);
}

/** One failed field of a request: a dotted path (`context.amount`, `votes.0.voter`) and why. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * The one error type that crosses the wire. Services throw it to answer a structured error;
 * the client rebuilds it (or a typed subclass) from a reply. `details` is JSON-safe.
 */
export class CountersignError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CountersignError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return statusOf(this.code);
  }

  toBody(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}
