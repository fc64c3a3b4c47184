/**
 * The record of a request that failed validation (or that the policy refused as input): its
 * hash, the PolicyDecision it is given, and which of its fields can be kept.
 */
import {
  type Approval,
  ApprovalRequest,
  type CountersignError,
  type PolicyDecision,
  Reason,
  requestHash,
} from '@countersign/contracts';
import { canonicalJson, sha256Hex } from '../hash.js';
import { containsUnstorable } from './storable.js';

/**
 * The request hash of a request recorded as refused. One that parses (refused for who sent it,
 * not for its shape: an unknown or unallowed requester) keeps the hash of its parsed content, the
 * one its requester's SDK computed, so the requester gets the rejection rather than a conflict.
 * Anything else hashes its raw JSON, prefixed so it never equals a valid request's.
 */
export function invalidHash(raw: unknown): string {
  const parsed = ApprovalRequest.safeParse(raw);
  if (parsed.success) return requestHash(parsed.data);
  return sha256Hex(`invalid:${canonicalJson(raw)}`);
}

/** The PolicyDecision recorded for a request that never reached the policy. */
export function invalidRequestDecision(error: CountersignError): PolicyDecision {
  return {
    outcome: 'deny',
    // A refusal (an unproven or unknown requester, say) keeps its own reason codes.
    reasons: refusalReasons(error) ?? [{ code: 'invalid_request', message: error.message }],
    risk: 'low',
    required_approvals: 1,
    approver_roles: [],
    timeout_seconds: 1,
    notify: [],
    revision: 'none',
    decision_id: 'none',
  };
}

function refusalReasons(error: CountersignError): Reason[] | undefined {
  const parsed = Reason.array().min(1).safeParse(error.details?.reasons);
  return parsed.success ? parsed.data : undefined;
}

/**
 * What can be kept of an invalid request for its record: each field as sent when it is valid on
 * its own, a placeholder otherwise. The context is dropped (it may be what made it invalid).
 */
export function invalidFields(
  raw: unknown,
): Pick<Approval, 'action_type' | 'description' | 'context' | 'requested_by' | 'run_id'> {
  const obj = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const shape = ApprovalRequest.shape;
  const pick = <T>(
    schema: { safeParse(v: unknown): { success: boolean; data?: T } },
    value: unknown,
  ): T | undefined => {
    const parsed = schema.safeParse(value);
    return parsed.success && !containsUnstorable(parsed.data) ? parsed.data : undefined;
  };
  return {
    action_type: pick<string>(shape.action_type, obj.action_type) ?? 'invalid',
    description: pick<string>(shape.description, obj.description) ?? '(invalid request)',
    context: {},
    requested_by: pick<string>(shape.requested_by, obj.requested_by) ?? 'unknown',
    run_id: pick<string>(shape.run_id, obj.run_id) ?? null,
  };
}
