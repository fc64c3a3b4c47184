import { randomUUID } from 'node:crypto';
import {
  type Approval,
  ApprovalEvent,
  type ApprovalStatus,
  type PolicyDecision,
} from '@countersign/contracts';

let counter = 0;

/** A unique action id per call, readable in logs. */
export function actionId(label: string): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}`;
}

/** A valid pending payment approval for the finance role; override anything. */
export function makeApproval(
  overrides: Partial<Omit<Approval, 'policy'>> & { policy?: Partial<PolicyDecision> } = {},
): Approval {
  const now = Date.now();
  const { policy, ...rest } = overrides;
  const approval: Approval = {
    action_id: actionId('pay'),
    action_type: 'payment',
    description: 'Pay invoice 2024-118 to ACME Corp',
    context: { amount: 1500, currency: 'EUR', payee: 'ACME Corp' },
    requested_by: 'dave',
    run_id: null,
    status: 'pending',
    created_at: new Date(now).toISOString(),
    expires_at: new Date(now + 2 * 3600_000).toISOString(),
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    policy: {
      outcome: 'needs_approval',
      reasons: [{ code: 'amount_threshold', message: 'amount 1500 is at least 500' }],
      risk: 'high',
      required_approvals: 1,
      approver_roles: ['finance'],
      timeout_seconds: 7200,
      notify: ['finance'],
      revision: 'sha256:test',
      decision_id: randomUUID(),
      ...policy,
    },
    votes: [],
    required_approvals: policy?.required_approvals ?? 1,
    ...rest,
  };
  return approval;
}

export function pendingEvent(approval: Approval): ApprovalEvent {
  return ApprovalEvent.parse({
    id: randomUUID(),
    type: 'approval.pending',
    occurred_at: approval.created_at,
    data: approval,
  });
}

/** A reminder or an escalation of a pending approval, as the approval service's sweep emits it. */
export function followUpEvent(
  approval: Approval,
  type: 'approval.reminder' | 'approval.escalated',
): ApprovalEvent {
  return ApprovalEvent.parse({
    id: randomUUID(),
    type,
    occurred_at: new Date().toISOString(),
    data: approval,
  });
}

export function decidedEvent(
  approval: Approval,
  status: Exclude<ApprovalStatus, 'pending'> = 'approved',
  decidedBy = 'alice',
): ApprovalEvent {
  const at = new Date().toISOString();
  return ApprovalEvent.parse({
    id: randomUUID(),
    type: 'approval.decided',
    occurred_at: at,
    data: {
      ...approval,
      status,
      decided_at: at,
      decided_by: decidedBy,
      decision_reason: `${status} in a test`,
      votes: status === 'approved' ? [{ voter: decidedBy, approved: true, reason: null, at }] : [],
    },
  });
}
