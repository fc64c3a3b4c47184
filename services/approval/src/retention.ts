/**
 * What the approval service prunes, and what it keeps. Pruned, each after its own retention:
 * outbox rows once published (the event is in APPROVAL_EVENTS, and the approval's status
 * guarantees no second event of the same kind is ever written), spent review-link nonces once
 * their link has expired (an expired link is refused by its signature alone), and sign-outs
 * once their session has expired (an expired cookie is refused by its signature alone). Kept
 * for ever: approvals, votes and the audit trail, the system of record, whose hash chains
 * must keep verifying (docs/operations.md, "Bounded storage").
 */

import type { Logger } from '@countersign/runtime';
import {
  RETENTION_CUTOFF,
  type RetentionJob,
  type RetentionStep,
  startRetentionJob,
} from '@countersign/runtime';
import type pg from 'pg';

/** Retention of each kind of row, in ms past its timestamp; null keeps it for ever. */
export interface ApprovalRetention {
  /** Published outbox rows, after `published_at`. */
  outboxMs: number | null;
  /** Spent review-link nonces, after the link's own `expires_at`. */
  reviewTokensMs: number | null;
}

export function approvalRetentionSteps(retention: ApprovalRetention): RetentionStep[] {
  return [
    {
      name: 'outbox',
      retentionMs: retention.outboxMs,
      // Unpublished rows are never touched: published_at is null until the stream has the event.
      sql: `delete from approval.outbox where id in (
              select id from approval.outbox where published_at < ${RETENTION_CUTOFF} order by id limit $1)`,
    },
    {
      name: 'review_tokens',
      retentionMs: retention.reviewTokensMs,
      sql: `delete from approval.used_review_tokens where nonce in (
              select nonce from approval.used_review_tokens where expires_at < ${RETENTION_CUTOFF} limit $1)`,
    },
    {
      name: 'signed_out_sessions',
      // Past its expiry a session cookie is refused anyway; sign-outs also prune these.
      retentionMs: 0,
      sql: `delete from approval.signed_out_sessions where session_id in (
              select session_id from approval.signed_out_sessions where expires_at < ${RETENTION_CUTOFF} limit $1)`,
    },
  ];
}

/** The advisory lock the approval replicas share, so one of them runs each pass. */
export const APPROVAL_RETENTION_LOCK = 'countersign:retention:approval';

export function startApprovalRetention(options: {
  pool: pg.Pool;
  logger: Logger;
  retention: ApprovalRetention;
  intervalMs: number;
  batchSize: number;
}): RetentionJob {
  return startRetentionJob({
    pool: options.pool,
    logger: options.logger,
    lockName: APPROVAL_RETENTION_LOCK,
    steps: approvalRetentionSteps(options.retention),
    batchSize: options.batchSize,
    intervalMs: options.intervalMs,
  });
}
