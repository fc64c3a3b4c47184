import type { PolicyResult } from '@countersign/contracts';

/**
 * The parts of a decision that matter to people: whether a human is asked, how many, which
 * roles, and the risk shown to them. Replay and shadow mode both compare exactly these (reason
 * messages and timeouts may change freely).
 */
export const COMPARED_FIELDS = ['outcome', 'required_approvals', 'approver_roles', 'risk'] as const;
export type ComparedField = (typeof COMPARED_FIELDS)[number];
export type DecisionSummary = Pick<PolicyResult, ComparedField>;

export function summarize(result: PolicyResult): DecisionSummary {
  return {
    outcome: result.outcome,
    required_approvals: result.required_approvals,
    approver_roles: [...result.approver_roles].sort(),
    risk: result.risk,
  };
}

/** The fields in which two decisions differ, in {@link COMPARED_FIELDS} order. */
export function changedFields(a: DecisionSummary, b: DecisionSummary): ComparedField[] {
  return COMPARED_FIELDS.filter((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]));
}
