/** Asking the policy whether a proven identity may act on an approval: one call for every command. */
import { type Approval, type AuthorizeAction, CountersignError } from '@countersign/contracts';
import type { Delegated } from '../policy.js';
import type { LifecycleDeps } from './deps.js';
import { knownPrincipal } from './identities.js';

/** The action type of a paused task: it is resumed (by its owner), never approved. */
export const TASK_PAUSE = 'task_pause';

/**
 * Refuses unless `actor` is in the directory and the policy allows `action` on `approval`
 * (`forbidden`, with the policy's reasons). The policy call is a network call: callers make it
 * before their transaction and re-check the approval's state under its row lock.
 */
export async function authorize(
  deps: Pick<LifecycleDeps, 'directory' | 'policy'>,
  action: AuthorizeAction,
  approval: Approval,
  actor: string,
  /** A vote as a delegate: the policy checks the delegator's roles under these grants. */
  delegation?: Delegated,
  /** For `extend`: the seconds asked for, which the policy bounds. */
  extendSeconds?: number,
): Promise<void> {
  knownPrincipal(deps, actor);
  const verdict = await deps.policy.authorize(action, approval, actor, delegation, extendSeconds);
  if (!verdict.allowed) {
    throw new CountersignError(
      'forbidden',
      verdict.reasons.map((r) => r.message).join('; ') || `${actor} may not ${action} this approval`,
      { action_id: approval.action_id, reasons: verdict.reasons },
    );
  }
}
