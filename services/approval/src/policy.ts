import { callEndpoint } from '@countersign/client';
import type {
  Approval,
  ApprovalRequest,
  AuthorizeAction,
  AuthorizeResponse,
  DelegationGrant,
  PolicyDecision,
} from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** The two questions the approval service asks the policy service. */
export interface PolicyClient {
  /** Throws CountersignError: `unavailable` when no policy answered in time. */
  evaluate(request: ApprovalRequest): Promise<PolicyDecision>;
  /**
   * May `actor` take `action` (decide, resume, cancel, report) on `approval`? With `delegation`:
   * may the actor vote for `on_behalf_of` under the `grants` in force from that person?
   */
  authorize(
    action: AuthorizeAction,
    approval: Approval,
    actor: string,
    delegation?: Delegated,
    /** For `extend`: by how many seconds the actor asks to move the deadline. */
    extendSeconds?: number,
  ): Promise<AuthorizeResponse>;
}

/** A vote as a delegate: for whom, and the delegations from them to the actor in force now. */
export interface Delegated {
  on_behalf_of: string;
  grants: DelegationGrant[];
}

/**
 * Asks the policy service over NATS request/reply. Requests are independent, so callers
 * pipeline many of them on one connection (Promise.all) instead of waiting for each answer.
 */
export function natsPolicyClient(nc: NatsConnection, timeoutMs: number): PolicyClient {
  return {
    evaluate: (request) => callEndpoint(nc, 'evaluate', request, { timeout: timeoutMs }),
    authorize: (action, approval, actor, delegation, extendSeconds) =>
      callEndpoint(
        nc,
        'authorize',
        {
          action,
          approval,
          actor,
          ...(delegation ? { on_behalf_of: delegation.on_behalf_of, delegations: delegation.grants } : {}),
          ...(extendSeconds === undefined ? {} : { extend_seconds: extendSeconds }),
        },
        { timeout: timeoutMs },
      ),
  };
}
