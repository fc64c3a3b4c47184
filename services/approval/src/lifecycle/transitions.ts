/**
 * Transitions: moving a locked pending approval to a terminal status with its audit events and
 * its decided event, the lock-then-check every command on a pending approval goes through, and
 * the refusal a closed approval answers.
 */
import { type Approval, type ApprovalStatus, CountersignError } from '@countersign/contracts';
import {
  activeTraceContext,
  contextFromCarrier,
  contextOf,
  query,
  startSpan,
  type TraceCarrier,
  traceCarrier,
} from '@countersign/runtime';
import type pg from 'pg';
import {
  AUDIT_HEAD_COLUMN,
  AUDIT_INSERT_SELECT,
  type AuditEntry,
  appendAudit,
  chainOntoHeads,
  knowHead,
  noteHeads,
} from '../audit.js';
import { notFound } from '../queries.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval, type VoteJson } from '../records.js';
import { Actors } from './actors.js';
import { auditedTransaction } from './audited-transaction.js';
import { lockWithNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { eventFor, OUTBOX_INSERT_SELECT } from './outbox-rows.js';
import { receiptVote, signReceipt } from './receipts.js';

export type TerminalStatus = Exclude<ApprovalStatus, 'pending'>;

export interface Transition {
  action_id: string;
  status: TerminalStatus;
  decided_by: string;
  reason: string | null;
  /** The locked pending row as it was read: what the receipt attests, with `vote`. */
  row: ApprovalRow;
  /** The vote this transaction adds (decide), not yet in `row.votes`. */
  vote?: VoteJson;
}

/**
 * Moves locked pending approvals to a terminal status, with their receipts, their audit events
 * and their one decided event. Callers hold the row locks; the `status = 'pending'` condition
 * and the table's trigger refuse any other change regardless.
 */
export async function applyTransitions(
  deps: Pick<LifecycleDeps, 'keyring' | 'issuer'>,
  client: pg.PoolClient,
  transitions: readonly Transition[],
  now: Date,
  extraAudit: readonly AuditEntry[] = [],
): Promise<Approval[]> {
  if (transitions.length === 0) {
    await appendAudit(client, extraAudit);
    return [];
  }
  // Signed before the update and written by it: the receipt exists exactly when the terminal
  // status does (one transaction), and it costs one signature, no extra round trip. The row is
  // locked, so the votes it attests are all the votes there are.
  const decidedAt = iso(now);
  const rows = transitions.map((t) => ({
    action_id: t.action_id,
    status: t.status,
    decided_by: t.decided_by,
    reason: t.reason,
    receipt: signReceipt(
      deps,
      {
        action_id: t.action_id,
        request_hash: t.row.request_hash,
        status: t.status,
        requested_by: t.row.requested_by,
        decided_by: t.decided_by,
        decided_at: decidedAt,
        policy: t.row.policy,
        votes: [...t.row.votes, ...(t.vote ? [t.vote] : [])].map(receiptVote),
      },
      now,
    ),
  }));
  // Returns the updated records themselves (votes included: this transaction's vote is visible
  // to its later statements), so they need no second read.
  const updated = await query<ApprovalRow & { trace_context: TraceCarrier | null }>(
    client,
    `update approval.approvals a
        set status = x.status, decided_at = $2::timestamptz, decided_by = x.decided_by, decision_reason = x.reason,
            receipt = x.receipt
       from json_to_recordset($1::json) as x(action_id text, status text, decided_by text, reason text, receipt text)
      where a.action_id = x.action_id and a.status = 'pending'
      returning ${APPROVAL_COLUMNS}, a.trace_context`,
    [JSON.stringify(rows), decidedAt],
    // Named, as the statements below: prepared once per connection, planned once.
    'approval-transition',
  );
  if (updated.rowCount !== transitions.length) {
    throw new CountersignError('internal', 'a transition found its approval no longer pending');
  }
  const approvals = updated.rows.map(toApproval);
  const audit = await chainOntoHeads(client, [
    ...extraAudit,
    ...transitions.map((t) => ({
      action_id: t.action_id,
      event: t.status,
      actor: t.decided_by,
      reason: t.reason,
      data: {},
      at: iso(now),
    })),
  ]);
  const traces = updated.rows.map((row, i) => decisionTrace(row.trace_context, approvals[i] as Approval));
  // The audit events and the decided events in one statement (one round trip).
  await query(
    client,
    `with audit as (insert into approval.audit_events ${AUDIT_INSERT_SELECT('$1')})
     insert into approval.outbox ${OUTBOX_INSERT_SELECT('$2')}`,
    [JSON.stringify(audit), JSON.stringify(approvals.map((approval, i) => eventFor(approval, traces[i])))],
    'approval-transition-events',
  );
  noteHeads(client, audit);
  return approvals;
}

/**
 * The trace a decided event is published in: the one its approval was requested in, so the
 * requester's trace runs to the waiter's wake-up. A span there marks the decision, linked to the
 * trace of whoever decided (a command, the expiry sweep). Undefined when tracing is off or the
 * approval was requested untraced.
 */
function decisionTrace(stored: TraceCarrier | null, approval: Approval): TraceCarrier | undefined {
  const requested = contextFromCarrier(stored);
  if (requested === undefined) return undefined;
  const span = startSpan(`approval ${approval.status}`, {
    parent: requested,
    links: [activeTraceContext()],
    attributes: {
      'countersign.action_id': approval.action_id,
      'countersign.status': approval.status,
      'countersign.decided_by': approval.decided_by ?? '',
    },
  });
  if (span === undefined) return undefined;
  span.end();
  return traceCarrier(contextOf(span));
}

/** Refuses a command on an approval that is no longer pending: who decided, and when. */
export function closedError(
  row: Pick<ApprovalRow, 'action_id' | 'status' | 'decided_by' | 'decided_at' | 'expires_at'>,
): CountersignError {
  const details = {
    action_id: row.action_id,
    status: row.status,
    decided_by: row.decided_by,
    decided_at: row.decided_at ? iso(row.decided_at) : null,
  };
  if (row.status === 'expired') {
    return new CountersignError('expired', `approval ${row.action_id} expired at ${iso(row.expires_at)}`, {
      ...details,
      expires_at: iso(row.expires_at),
    });
  }
  return new CountersignError(
    'already_decided',
    `approval ${row.action_id} was already ${row.status} by ${row.decided_by} at ${details.decided_at}`,
    details,
  );
}

type Locked<T> = { kind: 'done'; value: T } | { kind: 'refused'; error: CountersignError };

/**
 * The locked approval, read with its audit chain's head in the same statement, so the change
 * made under the lock chains its events without reading the head again.
 */
async function lockedRow(client: pg.PoolClient, actionId: string): Promise<ApprovalRow | undefined> {
  const result = await query<ApprovalRow & { audit_head: { seq: number; hash: string } | null }>(
    client,
    `select ${APPROVAL_COLUMNS}, ${AUDIT_HEAD_COLUMN} from approval.approvals a where a.action_id = $1`,
    [actionId],
    'approval-locked-row',
  );
  const found = result.rows[0];
  if (!found) return undefined;
  const { audit_head, ...row } = found;
  knowHead(client, actionId, audit_head);
  return row;
}

/**
 * Runs `fn` on the locked pending approval. A terminal approval is refused; an overdue one is
 * expired first (committed) and then refused as `expired`: the lock makes the check-then-act
 * atomic, so concurrent commands on one approval can never produce two outcomes.
 */
export async function onPending<T>(
  deps: LifecycleDeps,
  actionId: string,
  fn: (client: pg.PoolClient, row: ApprovalRow, now: Date) => Promise<T>,
): Promise<T> {
  const result = await auditedTransaction<Locked<T>>(
    deps,
    async (client) => {
      const now = await lockWithNow(client, actionId);
      // Read after the lock is granted, by a statement of its own: its snapshot sees every vote and
      // status change committed by whoever held the lock before (a locking read's own snapshot may not).
      const row = now ? await lockedRow(client, actionId) : undefined;
      if (!now || !row) return { kind: 'refused', error: notFound(actionId) };
      if (row.status !== 'pending') return { kind: 'refused', error: closedError(row) };
      if (row.overdue) {
        // Expire it (committed below) and refuse the command: the deadline has passed.
        await applyTransitions(deps, client, [expiryTransition(row)], now);
        deps.logger.info({ action_id: actionId }, 'approval expired');
        return {
          kind: 'refused',
          error: closedError({ ...row, status: 'expired', decided_by: Actors.countersign, decided_at: now }),
        };
      }
      return { kind: 'done', value: await fn(client, row, now) };
    },
    'approval pending approval update',
  );
  if (result.kind === 'refused') throw result.error;
  return result.value;
}

export function expiryTransition(row: ApprovalRow): Transition {
  return {
    action_id: row.action_id,
    status: 'expired',
    decided_by: Actors.countersign,
    reason: `no decision within ${row.policy.timeout_seconds} s`,
    row,
  };
}
