/**
 * Cancel: withdraws a pending approval, with its decided event. Who may (by default the
 * requester, an eligible approver of it, or an operator) is the policy's `cancel` rule.
 */
import { type Approval, CountersignError } from '@countersign/contracts';
import { findApproval, notFound } from '../queries.js';
import { toApproval } from '../records.js';
import { authorize } from './authorize.js';
import type { LifecycleDeps } from './deps.js';
import { containsUnstorable, unstorableError } from './storable.js';
import { applyTransitions, onPending } from './transitions.js';

export async function cancel(
  deps: LifecycleDeps,
  input: { action_id: string; reason?: string | undefined },
  actor: string,
): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  const current = await findApproval(deps.pool, input.action_id);
  if (!current) throw notFound(input.action_id);
  if (current.status === 'pending') await authorize(deps, 'cancel', toApproval(current), actor);
  const approval = await onPending(deps, input.action_id, async (client, row, now) => {
    const [done] = await applyTransitions(
      deps,
      client,
      [
        {
          action_id: input.action_id,
          status: 'cancelled',
          decided_by: actor,
          reason: input.reason ?? null,
          row,
        },
      ],
      now,
    );
    if (!done) throw new CountersignError('internal', 'transition returned no approval');
    return done;
  });
  deps.logger.info({ action_id: input.action_id, cancelled_by: actor }, 'approval cancelled');
  return approval;
}
