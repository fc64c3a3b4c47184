/**
 * What a submission is: the item to record, what became of it, and its idempotency key's
 * content (the request hash). Shared by the submit path and its batch write.
 */
import type { Approval, CountersignError } from '@countersign/contracts';
import { type ApprovalRequest, requestHash } from '@countersign/contracts';
import type { TraceContext } from '@countersign/runtime';

/** Something to record: a valid request, or an addressable one that failed validation. */
export type SubmitItem =
  | { kind: 'request'; request: ApprovalRequest }
  | { kind: 'invalid'; action_id: string; raw: unknown; error: CountersignError };

export type SubmitOutcome =
  /** Recorded now, with its events. */
  | { kind: 'created'; approval: Approval }
  /** The same content was recorded before: nothing new was written. */
  | { kind: 'duplicate'; action_id: string }
  /** Recorded before with different content: the attempt is audited, nothing else changes. */
  | { kind: 'conflict'; action_id: string }
  /**
   * Nothing was written; try again later. `poison`: the database refused this item's data on its
   * own, so retrying is unlikely to help (the intake dead-letters it after a few attempts).
   */
  | { kind: 'retry'; error: CountersignError; poison?: boolean }
  /** The same action_id appears earlier in this batch: try again once that one is recorded. */
  | { kind: 'deferred'; action_id: string };

/** One item of a batch, first of its action_id, with its hash: what the write works on. */
export interface Prepared {
  index: number;
  action_id: string;
  request_hash: string;
  item: SubmitItem;
  /** The trace the item was requested in (its intake message's span, or the submit command's). */
  trace?: TraceContext;
}

/** sha256 of the canonical JSON of the parsed request: the idempotency key's content (owned by the contract). */
export { requestHash };
