import type { EndpointHandlers } from '@countersign/runtime';
import { Actors, cancel, decide, type LifecycleDeps, report, submit } from './lifecycle/index.js';
import { approvalStats, getApproval, listApprovals } from './queries.js';

export type ApprovalEndpoint = 'submit' | 'decide' | 'cancel' | 'get' | 'list' | 'stats' | 'report';

/**
 * The `approval` service's commands. Requests arrive validated by the contract's schemas; the
 * identity a command acts as is the one the request names (NATS does not say who sent it).
 */
export function approvalHandlers(deps: LifecycleDeps): EndpointHandlers<ApprovalEndpoint> {
  return {
    submit: (request) => submit(deps, request),
    decide: (request) => decide(deps, request, request.decided_by),
    cancel: (request) => cancel(deps, request, request.cancelled_by ?? Actors.system),
    get: (request) => getApproval(deps.pool, request.action_id),
    list: (request) => listApprovals(deps.pool, request),
    stats: () => approvalStats(deps.pool),
    report: (request) => report(deps, request, request.reported_by),
  };
}
