/**
 * Transitions: moving a locked pending approval to a terminal status with its audit events and
 * its decided event, the lock-then-check every command on a pending approval goes through, and
 * the refusal a closed approval answers.
 */
import { type Approval, type ApprovalStatus, CountersignError } from '@countersign/contracts';
import { query, withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import { type AuditEntry, appendAudit } from '../audit.js';
import { findApproval, notFound } from '../queries.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval } from '../records.js';
import { Actors } from './actors.js';
import { lockWithNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { eventFor, insertOutbox } from './outbox-rows.js';

export type TerminalStatus = Exclude<ApprovalStatus, 'pending'>;

export interface Transition {
  action_id: string;
  status: TerminalStatus;
  decided_by: string;
  reason: string | null;
}

/**
 * Moves locked pending approvals to a terminal status, with their audit events and their one
 * decided event. Callers hold the row locks; the `status = 'pending'` condition and the table's
 * trigger refuse any other change regardless.
 */
export async function applyTransitions(
  client: pg.PoolClient,
  transitions: readonly Transition[],
  now: Date,
  extraAudit: readonly AuditEntry[] = [],
): Promise<Approval[]> {
  if (transitions.length === 0) {
    await appendAudit(client, extraAudit);
    return [];
  }
  // Returns the updated records themselves (votes included: this transaction's vote is visible
  // to its later statements), so they need no second read.
  const updated = await query<ApprovalRow>(
    client,
    `update approval.approvals a
        set status = x.status, decided_at = $2::timestamptz, decided_by = x.decided_by, decision_reason = x.reason
       from json_to_recordset($1::json) as x(action_id text, status text, decided_by text, reason text)
      where a.action_id = x.action_id and a.status = 'pending'
      returning ${APPROVAL_COLUMNS}`,
    [JSON.stringify(transitions), iso(now)],
  );
  if (updated.rowCount !== transitions.length) {
    throw new CountersignError('internal', 'a transition found its approval no longer pending');
  }
  const approvals = updated.rows.map(toApproval);
  await appendAudit(client, [
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
  await insertOutbox(client, approvals.map(eventFor));
  return approvals;
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
 * Runs `fn` on the locked pending approval. A terminal approval is refused; an overdue one is
 * expired first (committed) and then refused as `expired`: the lock makes the check-then-act
 * atomic, so concurrent commands on one approval can never produce two outcomes.
 */
export async function onPending<T>(
  deps: LifecycleDeps,
  actionId: string,
  fn: (client: pg.PoolClient, row: ApprovalRow, now: Date) => Promise<T>,
): Promise<T> {
  const result = await withTransaction<Locked<T>>(deps.pool, async (client) => {
    const now = await lockWithNow(client, actionId);
    // Read after the lock is granted, by a statement of its own: its snapshot sees every vote and
    // status change committed by whoever held the lock before (a locking read's own snapshot may not).
    const row = now ? await findApproval(client, actionId) : undefined;
    if (!now || !row) return { kind: 'refused', error: notFound(actionId) };
    if (row.status !== 'pending') return { kind: 'refused', error: closedError(row) };
    if (row.overdue) {
      // Expire it (committed below) and refuse the command: the deadline has passed.
      await applyTransitions(client, [expiryTransition(row.action_id, row.policy.timeout_seconds)], now);
      deps.logger.info({ action_id: actionId }, 'approval expired');
      return {
        kind: 'refused',
        error: closedError({ ...row, status: 'expired', decided_by: Actors.countersign, decided_at: now }),
      };
    }
    return { kind: 'done', value: await fn(client, row, now) };
  });
  if (result.kind === 'refused') throw result.error;
  return result.value;
}

export function expiryTransition(actionId: string, timeoutSeconds: number): Transition {
  return {
    action_id: actionId,
    status: 'expired',
    decided_by: Actors.countersign,
    reason: `no decision within ${timeoutSeconds} s`,
  };
}
