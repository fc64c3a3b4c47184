/**
 * Decision receipts: the claims a terminal approval's receipt attests and their signature. Built
 * from what the transaction that makes the approval terminal already holds (the locked row, the
 * vote it adds), so a receipt costs one Ed25519 signature and no extra round trip.
 */
import {
  type PolicyDecision,
  RECEIPT_TYP,
  type ReceiptClaims,
  type ReceiptVote,
  type TERMINAL_STATUSES,
} from '@countersign/contracts';
import { iso, type VoteJson } from '../records.js';
import type { LifecycleDeps } from './deps.js';

/** What a receipt is made from: the approval as it becomes terminal. */
export interface ReceiptSource {
  action_id: string;
  request_hash: string;
  status: (typeof TERMINAL_STATUSES)[number];
  requested_by: string;
  decided_by: string;
  decided_at: string;
  policy: Pick<PolicyDecision, 'revision' | 'directory_revision'>;
  votes: readonly ReceiptVote[];
}

/** A stored vote as the receipt records it. */
export function receiptVote(vote: VoteJson): ReceiptVote {
  return {
    identity: vote.voter,
    decision: vote.approved ? 'approved' : 'rejected',
    at: iso(new Date(vote.at)),
    ...(vote.channel ? { channel: vote.channel } : {}),
    ...(vote.on_behalf_of ? { on_behalf_of: vote.on_behalf_of } : {}),
  };
}

export function receiptClaims(issuer: string, source: ReceiptSource, now: Date): ReceiptClaims {
  return {
    iss: issuer,
    sub: source.action_id,
    iat: Math.floor(now.getTime() / 1000),
    action_id: source.action_id,
    request_hash: source.request_hash,
    status: source.status,
    requested_by: source.requested_by,
    decided_by: source.decided_by,
    decided_at: source.decided_at,
    votes: [...source.votes],
    policy_revision: source.policy.revision,
    ...(source.policy.directory_revision ? { directory_revision: source.policy.directory_revision } : {}),
  };
}

/** The compact JWS of `source`'s receipt, signed with the keyring's active key. */
export function signReceipt(
  deps: Pick<LifecycleDeps, 'keyring' | 'issuer'>,
  source: ReceiptSource,
  now: Date,
): string {
  return deps.keyring.sign(receiptClaims(deps.issuer, source, now), RECEIPT_TYP);
}
