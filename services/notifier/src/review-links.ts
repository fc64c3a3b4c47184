import type { Approval } from '@countersign/contracts';
import { mintReviewToken, reviewUrl } from '@countersign/runtime';
import type { Secret } from './secret.js';

/** Mints an approver's personal review link (the approval service's signed, single-use scheme). */
export type ReviewLinks = (approval: Approval, approver: string) => string;

export function createReviewLinks(publicUrl: string, secret: Secret<string>): ReviewLinks {
  return (approval, approver) =>
    reviewUrl(
      publicUrl,
      approval.action_id,
      mintReviewToken(secret.reveal(), {
        actionId: approval.action_id,
        approver,
        // The link dies with the approval: after expiry there is nothing left to decide.
        expiresAt: new Date(approval.expires_at),
      }),
    );
}
