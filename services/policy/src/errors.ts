/** Why a policy bundle was refused. Every kind leaves the last good policy in place. */
export type PolicyLoadErrorKind =
  | 'build_failed'
  | 'invalid_bundle'
  | 'invalid_wasm'
  | 'missing_entrypoint'
  | 'unsupported_builtin'
  | 'invalid_golden_cases'
  | 'golden_case_failed'
  | 'approval_required';

/**
 * A bundle could not be built, read or accepted; `kind` says which check refused it, `field`
 * (when known) which part of the bundle, e.g. `golden_cases.1.expect.outcome`.
 */
export class PolicyLoadError extends Error {
  readonly kind: PolicyLoadErrorKind;
  readonly field: string | undefined;

  constructor(kind: PolicyLoadErrorKind, message: string, options?: ErrorOptions & { field?: string }) {
    super(message, options);
    this.name = 'PolicyLoadError';
    this.kind = kind;
    this.field = options?.field;
  }
}

/** A short description of anything caught while loading, for logs and reload status. */
export function describeLoadError(err: unknown): { kind: string; message: string } {
  if (err instanceof PolicyLoadError) return { kind: err.kind, message: err.message };
  // The WASM SDK throws plain strings and `{message}` objects as well as Errors.
  if (err instanceof Error) return { kind: 'error', message: err.message };
  if (typeof err === 'object' && err !== null && 'message' in err) {
    return { kind: 'error', message: String((err as { message: unknown }).message) };
  }
  return { kind: 'error', message: String(err) };
}
