import { callEndpoint } from '@countersign/client';
import type { Approval, ApprovalRequest, AuthorizeResponse, PolicyDecision } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** The two questions the approval service asks the policy service. */
export interface PolicyClient {
  /** Throws CountersignError: `unavailable` when no policy answered in time. */
  evaluate(request: ApprovalRequest): Promise<PolicyDecision>;
  authorize(approval: Approval, decider: string, owner?: string): Promise<AuthorizeResponse>;
}

/**
 * Asks the policy service over NATS request/reply. Requests are independent, so callers
 * pipeline many of them on one connection (Promise.all) instead of waiting for each answer.
 */
export function natsPolicyClient(nc: NatsConnection, timeoutMs: number): PolicyClient {
  return {
    evaluate: (request) => callEndpoint(nc, 'evaluate', request, { timeout: timeoutMs }),
    authorize: (approval, decider, owner) =>
      callEndpoint(
        nc,
        'authorize',
        { approval, decider, ...(owner === undefined ? {} : { owner }) },
        { timeout: timeoutMs },
      ),
  };
}
