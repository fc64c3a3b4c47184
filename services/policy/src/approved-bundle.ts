/**
 * Policy changes need approval (POLICY_REQUIRE_APPROVAL): a bundle put in the bucket is loaded
 * only when its object names an approval (`metadata.approval`, written by `pnpm policy
 * activate`) that the approval service shows approved, of action type `policy_change`, for
 * exactly this bundle's revision. The check itself is the runtime's, shared with directory
 * changes (requireApprovedChange).
 */
import { approvalsOverNats, ChangeNotApprovedError, requireApprovedChange } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import { PolicyLoadError } from './errors.js';

export const POLICY_CHANGE_ACTION_TYPE = 'policy_change';

export async function requireApproval(
  nc: NatsConnection,
  approvalId: string | undefined,
  revision: string,
): Promise<string> {
  try {
    await requireApprovedChange(approvalsOverNats(nc), {
      approvalId,
      actionType: POLICY_CHANGE_ACTION_TYPE,
      revision,
      what: 'bundle',
      howToFile: 'publish it with pnpm policy publish, then activate it once approved',
    });
  } catch (err) {
    if (err instanceof ChangeNotApprovedError) {
      throw new PolicyLoadError('approval_required', err.message, { cause: err });
    }
    throw err;
  }
  return approvalId as string;
}
