/**
 * Policy changes need approval (POLICY_REQUIRE_APPROVAL): a bundle put in the bucket is loaded
 * only when its object names an approval (`metadata.approval`, written by `pnpm policy
 * activate`) that the approval service shows approved, of action type `policy_change`, for
 * exactly this bundle's revision. Writing the bucket is then not enough to change the policy:
 * two eligible people (or a recorded break-glass) must have said yes to this revision.
 */
import { callEndpoint } from '@countersign/client';
import type { NatsConnection } from '@nats-io/nats-core';
import { PolicyLoadError } from './errors.js';

export const POLICY_CHANGE_ACTION_TYPE = 'policy_change';

export async function requireApproval(
  nc: NatsConnection,
  approvalId: string | undefined,
  revision: string,
): Promise<string> {
  if (!approvalId) {
    throw new PolicyLoadError(
      'approval_required',
      `bundle ${revision} names no approval: publish it with pnpm policy publish, then activate it once approved`,
    );
  }
  let approval: Awaited<ReturnType<typeof callEndpoint<'get'>>>;
  try {
    approval = await callEndpoint(nc, 'get', { action_id: approvalId }, { timeout: 5000 });
  } catch (err) {
    throw new PolicyLoadError(
      'approval_required',
      `approval ${approvalId} of bundle ${revision} cannot be read: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const problems = [
    approval.action_type !== POLICY_CHANGE_ACTION_TYPE && `is a ${approval.action_type}, not a policy_change`,
    approval.status !== 'approved' && `is ${approval.status}`,
    approval.context.revision !== revision && `approves revision ${String(approval.context.revision)}`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new PolicyLoadError(
      'approval_required',
      `approval ${approvalId} does not let bundle ${revision} go live: it ${problems.join(', ')}`,
    );
  }
  return approvalId;
}
