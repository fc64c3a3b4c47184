/**
 * What an agent is told about an approval. The state is the approval's status, word for word:
 * an expired request is `expired`, never "denied", and a pending one is `pending` with the time
 * it expires, so an agent is never promised a completion after the window closed.
 */
import type { Approval, ApprovalStatus } from '@countersign/contracts';

export interface StateReport {
  state: ApprovalStatus;
  action_id: string;
  action_type: string;
  /** Why: the decider's reason, else the policy's reasons. */
  reason: string | null;
  decided_by: string | null;
  /** Policy reasons ({code, message}) the decision was based on. */
  policy_reasons: { code: string; message: string }[];
  approver_roles: string[];
  expires_at: string;
  /** Where a person reviews it (the dashboard), when DASHBOARD_URL is set. */
  review_url: string | null;
}

/** The dashboard page of one approval. */
export function reviewUrlOf(dashboardUrl: string | undefined, actionId: string): string | null {
  if (!dashboardUrl) return null;
  return `${dashboardUrl.replace(/\/+$/, '')}/dashboard/approvals/${encodeURIComponent(actionId)}`;
}

export function stateOf(approval: Approval, dashboardUrl: string | undefined): StateReport {
  const policyReasons = approval.policy.reasons.map(({ code, message }) => ({ code, message }));
  return {
    state: approval.status,
    action_id: approval.action_id,
    action_type: approval.action_type,
    reason:
      approval.decision_reason ??
      (policyReasons.length > 0 ? policyReasons.map((r) => r.message).join('; ') : null),
    decided_by: approval.decided_by,
    policy_reasons: policyReasons,
    approver_roles: approval.policy.approver_roles,
    expires_at: approval.expires_at,
    review_url: reviewUrlOf(dashboardUrl, approval.action_id),
  };
}

/** One line a model reads first: the state and what to do next. */
export function summaryOf(report: StateReport): string {
  const why = report.reason ? `: ${report.reason}` : '';
  switch (report.state) {
    case 'pending':
      return `${report.action_id} is pending (waiting for ${report.approver_roles.join(', ') || 'a person'} until ${report.expires_at})${why}${report.review_url ? `; review: ${report.review_url}` : ''}`;
    case 'approved':
      return `${report.action_id} is approved by ${report.decided_by ?? 'unknown'}${why}`;
    case 'rejected':
      return `${report.action_id} is rejected by ${report.decided_by ?? 'unknown'}${why}`;
    case 'expired':
      return `${report.action_id} expired at ${report.expires_at} without a decision: nobody decided in time, it will not run`;
    case 'cancelled':
      return `${report.action_id} is cancelled by ${report.decided_by ?? 'unknown'}${why}`;
  }
}
