import type { EndpointHandlers, HandlerContext } from '@countersign/runtime';
import {
  bindActor,
  cancel,
  decide,
  delegate,
  extend,
  type LifecycleDeps,
  listDelegations,
  report,
  submit,
  undelegate,
} from './lifecycle/index.js';
import { listPolicyInputs } from './policy-inputs.js';
import { approvalStats, getApproval, listApprovals } from './queries.js';

export type ApprovalEndpoint =
  | 'submit'
  | 'decide'
  | 'cancel'
  | 'get'
  | 'list'
  | 'stats'
  | 'report'
  | 'keys'
  | 'policyInputs'
  | 'extend'
  | 'delegate'
  | 'undelegate'
  | 'delegations';

/** The identity an actor-bound subject proved; the runtime sets it on every such command. */
function proven(ctx: HandlerContext): string {
  if (ctx.actor === undefined) throw new Error('actor-bound command without an actor');
  return ctx.actor;
}

/**
 * The `approval` service's commands. Requests arrive validated by the contract's schemas. The
 * commands that act (submit, decide, cancel, report) arrive on `approval.<command>.<identity>`,
 * which NATS permissions let only that identity's user publish to: that identity acts, and the
 * payload's actor field may only repeat it (see lifecycle/identities.ts).
 */
export function approvalHandlers(deps: LifecycleDeps): EndpointHandlers<ApprovalEndpoint> {
  return {
    submit: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'requested_by', request.requested_by);
      return submit(deps, { ...request, requested_by: actor });
    },
    decide: (request, ctx) => {
      const { actor, relay } = bindActor(
        deps,
        proven(ctx),
        'decided_by',
        request.decided_by,
        request.channel,
      );
      return decide(deps, { ...request, relay }, actor);
    },
    cancel: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'cancelled_by', request.cancelled_by);
      return cancel(deps, request, actor);
    },
    get: (request) => getApproval(deps.pool, request.action_id),
    list: (request) => listApprovals(deps.pool, request),
    stats: () => approvalStats(deps.pool),
    // Public keys only (the keyring never publishes a private part): anyone may check a receipt.
    keys: async () => deps.keyring.jwks(),
    policyInputs: (request) => listPolicyInputs(deps.pool, request),
    report: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'reported_by', request.reported_by);
      return report(deps, request, actor);
    },
    extend: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'extended_by', request.extended_by);
      return extend(deps, request, actor);
    },
    delegate: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'delegator', request.delegator);
      return delegate(deps, request, actor);
    },
    undelegate: (request, ctx) => {
      const { actor } = bindActor(deps, proven(ctx), 'revoked_by', request.revoked_by);
      return undelegate(deps, request, actor);
    },
    delegations: (request) => listDelegations(deps.pool, request),
  };
}
