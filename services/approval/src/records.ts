import type { Approval, ApprovalStatus, PolicyDecision, Vote } from '@countersign/contracts';

/** An approvals row as selected with {@link APPROVAL_COLUMNS} (votes aggregated beside it). */
export interface ApprovalRow {
  action_id: string;
  action_type: string;
  description: string;
  context: Record<string, unknown>;
  requested_by: string;
  run_id: string | null;
  request_hash: string;
  status: ApprovalStatus;
  policy: PolicyDecision;
  required_approvals: number;
  created_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_reason: string | null;
  /** The signed decision receipt; null while pending (and on approvals decided before receipts). */
  receipt: string | null;
  votes: VoteJson[];
  /** Set once the approval escalated: who it escalated to, and when. */
  escalation: { at: string; roles: string[]; people: string[] } | null;
  /** Set once an approver extended the deadline. */
  extension: { by: string; seconds: number; at: string } | null;
  /** Pending and past its deadline by the database clock. */
  overdue: boolean;
}

/** A vote as json_build_object renders it: timestamps as Postgres' JSON text. */
export interface VoteJson {
  voter: string;
  approved: boolean;
  reason: string | null;
  at: string;
  /** The relay channel that carried it, if any (the receipt names it; the contract's Vote does not). */
  channel: string | null;
  on_behalf_of: string | null;
}

/**
 * Columns of `approval.approvals a` plus its votes, oldest first. Every read of an approval goes
 * through this list so every command answers the same record.
 */
export const APPROVAL_COLUMNS = `
  a.action_id, a.action_type, a.description, a.context, a.requested_by, a.run_id, a.request_hash,
  a.status, a.policy, a.required_approvals, a.created_at, a.expires_at, a.decided_at, a.decided_by,
  a.decision_reason, a.receipt, a.escalation, a.extension,
  (a.status = 'pending' and a.expires_at <= now()) as overdue,
  coalesce((
    select json_agg(json_build_object('voter', v.voter, 'approved', v.approved, 'reason', v.reason, 'at', v.at,
                                      'channel', v.channel, 'on_behalf_of', v.on_behalf_of)
                    order by v.at, v.voter)
      from approval.votes v where v.action_id = a.action_id
  ), '[]'::json) as votes`;

export function toVote(vote: VoteJson): Vote {
  const base = {
    voter: vote.voter,
    approved: vote.approved,
    reason: vote.reason,
    at: iso(new Date(vote.at)),
  };
  // Only a delegate's vote carries the field: records of plain votes stay as they were (hashes, events).
  return vote.on_behalf_of ? { ...base, on_behalf_of: vote.on_behalf_of } : base;
}

/** The contract's record for a row; field order follows the contract for readable JSON. */
export function toApproval(row: ApprovalRow): Approval {
  return {
    action_id: row.action_id,
    action_type: row.action_type,
    description: row.description,
    context: row.context,
    requested_by: row.requested_by,
    run_id: row.run_id,
    status: row.status,
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    decided_at: row.decided_at ? iso(row.decided_at) : null,
    decided_by: row.decided_by,
    decision_reason: row.decision_reason,
    policy: row.policy,
    votes: row.votes.map(toVote),
    required_approvals: row.required_approvals,
    request_hash: row.request_hash,
    receipt: row.receipt,
    // Only an escalated approval carries the field: other records stay as they were.
    ...(row.escalation ? { escalation: row.escalation } : {}),
    ...(row.extension ? { extension: row.extension } : {}),
  };
}

/** RFC 3339 in UTC with milliseconds: the one timestamp format on the wire and in hashes. */
export function iso(date: Date): string {
  return date.toISOString();
}

export function isTerminal(status: ApprovalStatus): boolean {
  return status !== 'pending';
}
