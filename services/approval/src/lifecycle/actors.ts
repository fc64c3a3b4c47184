/** The names the service itself acts under, distinct from any person or requester. */

/** Identities the service decides as, recorded in decided_by and the audit trail. */
export const Actors = {
  /** auto_approve / deny outcomes of the policy. */
  policy: 'policy',
  /** Countersign itself: invalid requests, expiry. */
  countersign: 'countersign',
  /** Default canceller when none is named. */
  system: 'system',
} as const;
