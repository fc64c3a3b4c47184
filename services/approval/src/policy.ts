import { callEndpoint } from '@countersign/client';
import type {
  Approval,
  ApprovalRequest,
  AuthorizeAction,
  AuthorizeResponse,
  PolicyDecision,
} from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** The two questions the approval service asks the policy service. */
export interface PolicyClient {
  /** Throws CountersignError: `unavailable` when no policy answered in time. */
  evaluate(request: ApprovalRequest): Promise<PolicyDecision>;
  /** May `actor` take `action` (decide, resume, cancel, report) on `approval`? */
  authorize(action: AuthorizeAction, approval: Approval, actor: string): Promise<AuthorizeResponse>;
}

/**
 * Asks the policy service over NATS request/reply. Requests are independent, so callers
 * pipeline many of them on one connection (Promise.all) instead of waiting for each answer.
 */
export function natsPolicyClient(nc: NatsConnection, timeoutMs: number): PolicyClient {
  return {
    evaluate: (request) => callEndpoint(nc, 'evaluate', request, { timeout: timeoutMs }),
    authorize: (action, approval, actor) =>
      callEndpoint(nc, 'authorize', { action, approval, actor }, { timeout: timeoutMs }),
  };
}
