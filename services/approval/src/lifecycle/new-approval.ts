/**
 * The record a new submission gets, before it is written: decided at once (the policy's
 * auto_approve or deny, or an invalid request) or pending for people, with its first audit events.
 */
import {
  type Approval,
  type ApprovalStatus,
  CountersignError,
  type PolicyDecision,
} from '@countersign/contracts';
import type { AuditEntry } from '../audit.js';
import { iso } from '../records.js';
import { Actors } from './actors.js';
import type { LifecycleDeps } from './deps.js';
import { invalidFields, invalidRequestDecision } from './invalid.js';
import { type ReceiptSource, signReceipt } from './receipts.js';
import { storable } from './storable.js';
import type { Prepared } from './submission.js';

export interface Decided {
  prepared: Prepared;
  approval: Approval;
  audit: Omit<AuditEntry, 'at' | 'action_id'>[];
}

/**
 * The record a new submission gets: decided at once unless the policy asks for people. One
 * decided at once gets its receipt here, written with it by the batch's one insert.
 */
export function decideNew(
  deps: Pick<LifecycleDeps, 'keyring' | 'issuer'>,
  prepared: Prepared,
  decision: PolicyDecision | undefined,
  now: Date,
): Decided {
  const { item } = prepared;
  if (item.kind === 'invalid' || !decision) {
    const refusal =
      item.kind === 'invalid'
        ? item.error
        : new CountersignError('internal', 'no policy decision for the request');
    // Validation messages name the offending keys, which may themselves hold a NUL or a lone surrogate.
    const error = new CountersignError(refusal.code, storable(refusal.message), storable(refusal.details));
    const fields = invalidFields(item.kind === 'invalid' ? item.raw : item.request);
    const policy = invalidRequestDecision(error);
    const approval: Approval = {
      action_id: prepared.action_id,
      ...fields,
      status: 'rejected',
      created_at: iso(now),
      expires_at: iso(now),
      decided_at: iso(now),
      decided_by: Actors.countersign,
      decision_reason: error.message,
      policy,
      votes: [],
      required_approvals: policy.required_approvals,
      request_hash: prepared.request_hash,
    };
    approval.receipt = signReceipt(deps, receiptSource(approval, prepared.request_hash), now);
    return {
      prepared,
      approval,
      audit: [
        {
          event: 'requested',
          actor: fields.requested_by,
          reason: null,
          data: { request_hash: prepared.request_hash, valid: false },
        },
        {
          event: 'rejected',
          actor: Actors.countersign,
          reason: error.message,
          data: { code: error.code, ...(error.details ? { details: error.details } : {}) },
        },
      ],
    };
  }
  const { request } = item;
  const status: ApprovalStatus =
    decision.outcome === 'auto_approve' ? 'approved' : decision.outcome === 'deny' ? 'rejected' : 'pending';
  const terminal = status !== 'pending';
  const reason = terminal ? policyReason(decision) : null;
  const approval: Approval = {
    action_id: request.action_id,
    action_type: request.action_type,
    description: request.description,
    context: request.context,
    requested_by: request.requested_by,
    run_id: request.run_id ?? null,
    status,
    created_at: iso(now),
    expires_at: iso(new Date(now.getTime() + decision.timeout_seconds * 1000)),
    decided_at: terminal ? iso(now) : null,
    decided_by: terminal ? Actors.policy : null,
    decision_reason: reason,
    policy: decision,
    votes: [],
    required_approvals: decision.required_approvals,
    request_hash: prepared.request_hash,
    receipt: null,
  };
  if (terminal) approval.receipt = signReceipt(deps, receiptSource(approval, prepared.request_hash), now);
  const audit: Decided['audit'] = [
    {
      event: 'requested',
      actor: request.requested_by,
      reason: null,
      data: {
        request_hash: prepared.request_hash,
        outcome: decision.outcome,
        risk: decision.risk,
        required_approvals: decision.required_approvals,
        approver_roles: decision.approver_roles,
        revision: decision.revision,
        decision_id: decision.decision_id,
      },
    },
  ];
  if (terminal) {
    audit.push({ event: status, actor: Actors.policy, reason, data: { decision_id: decision.decision_id } });
  }
  return { prepared, approval, audit };
}

function policyReason(decision: PolicyDecision): string {
  if (decision.reasons.length > 0) return decision.reasons.map((r) => r.message || r.code).join('; ');
  return decision.outcome === 'auto_approve' ? 'no policy rule requires approval' : 'denied by policy';
}

/** A new approval decided at once, as its receipt attests it: no votes, the policy (or countersign) decided. */
function receiptSource(approval: Approval, requestHash: string): ReceiptSource {
  if (approval.status === 'pending' || approval.decided_at === null || approval.decided_by === null)
    throw new CountersignError('internal', 'a receipt for an approval that is not decided');
  return {
    action_id: approval.action_id,
    request_hash: requestHash,
    status: approval.status,
    requested_by: approval.requested_by,
    decided_by: approval.decided_by,
    decided_at: approval.decided_at,
    policy: approval.policy,
    votes: [],
  };
}
