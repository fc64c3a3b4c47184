/** Cancel: withdraws a pending approval (the requester or an operator), with its decided event. */
import { type Approval, CountersignError } from '@countersign/contracts';
import { Actors } from './actors.js';
import type { LifecycleDeps } from './deps.js';
import { containsUnstorable, unstorableError } from './storable.js';
import { applyTransitions, onPending } from './transitions.js';

export async function cancel(
  deps: LifecycleDeps,
  input: { action_id: string; reason?: string | undefined },
  actor: string = Actors.system,
): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  const approval = await onPending(deps, input.action_id, async (client, _row, now) => {
    const [done] = await applyTransitions(
      client,
      [{ action_id: input.action_id, status: 'cancelled', decided_by: actor, reason: input.reason ?? null }],
      now,
    );
    if (!done) throw new CountersignError('internal', 'transition returned no approval');
    return done;
  });
  deps.logger.info({ action_id: input.action_id, cancelled_by: actor }, 'approval cancelled');
  return approval;
}
