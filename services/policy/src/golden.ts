import type { Approval } from '@countersign/contracts';
import type { DecisionInput, PolicyEngine } from './engine.js';

/**
 * A known input whose answer any acceptable policy must give. A candidate bundle runs every
 * golden case before it replaces the current policy: a bundle that compiles but decides
 * nonsense (missing data, a rule that approves everything) is refused.
 */
export interface GoldenCase {
  name: string;
  /** Undefined when the engine answered as expected; otherwise what was wrong. */
  check(engine: PolicyEngine): string | undefined;
}

// Identities that no directory names: the cases must not depend on who holds which role.
const REQUESTER = 'countersign-golden-requester';
const NOBODY = 'countersign-golden-nobody';

function request(action_type: string, context: Record<string, unknown> = {}): DecisionInput {
  return {
    action_id: 'golden',
    action_type,
    description: 'golden case run by the policy service before accepting a bundle',
    context,
    requested_by: REQUESTER,
    now: new Date().toISOString(),
  };
}

function approval(approverRoles: string[]): Approval {
  const now = new Date().toISOString();
  return {
    action_id: 'golden',
    action_type: 'payment',
    description: 'golden case',
    context: { amount: 1500 },
    requested_by: REQUESTER,
    run_id: null,
    status: 'pending',
    created_at: now,
    expires_at: now,
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    policy: {
      outcome: 'needs_approval',
      reasons: [{ code: 'amount_threshold', message: 'golden' }],
      risk: 'high',
      required_approvals: 1,
      approver_roles: approverRoles,
      timeout_seconds: 3600,
      notify: [],
      revision: 'golden',
      decision_id: 'golden',
    },
    votes: [],
    required_approvals: 1,
  };
}

const codes = (reasons: { code: string }[]) => reasons.map((r) => r.code);

/**
 * Chosen to survive ordinary tuning of data.json (thresholds, lists, the directory), so a
 * threshold change rolls out, while a policy that fails open is stopped.
 */
export const DEFAULT_GOLDEN_CASES: readonly GoldenCase[] = [
  {
    name: 'a harmless action is auto-approved',
    check(engine) {
      const { result } = engine.decide(request('countersign_golden_check'));
      return result.outcome === 'auto_approve'
        ? undefined
        : `outcome ${result.outcome}, reasons ${codes(result.reasons)}`;
    },
  },
  {
    name: 'a payment of 1,000,000,000 is never auto-approved and cites amount_threshold',
    check(engine) {
      const { result } = engine.decide(request('payment', { amount: 1_000_000_000 }));
      if (result.outcome === 'auto_approve') return 'outcome auto_approve';
      return codes(result.reasons).includes('amount_threshold')
        ? undefined
        : `reasons ${codes(result.reasons)} lack amount_threshold`;
    },
  },
  {
    name: 'a requester cannot approve their own request (self_approval)',
    check(engine) {
      const { result } = engine.authorize({ approval: approval([]), decider: REQUESTER });
      if (result.allowed) return 'allowed';
      return codes(result.reasons).includes('self_approval') ? undefined : `reasons ${codes(result.reasons)}`;
    },
  },
  {
    name: 'a decider without the approver role is refused (missing_role)',
    check(engine) {
      const { result } = engine.authorize({ approval: approval(['finance']), decider: NOBODY });
      if (result.allowed) return 'allowed';
      return codes(result.reasons).includes('missing_role') ? undefined : `reasons ${codes(result.reasons)}`;
    },
  },
];
