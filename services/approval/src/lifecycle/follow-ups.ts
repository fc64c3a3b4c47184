/**
 * Follow-ups of pending approvals, as the policy decided them: reminders to the approvers who
 * have not voted (one event per interval) and the escalation (approvers added, the deadline
 * possibly moved, audited). Like expiry, each sweep claims due rows with FOR UPDATE SKIP LOCKED,
 * so replicas share the work and a row is handled once; the due times are columns, so a restart
 * loses nothing. Expiry stays its own outcome: a follow-up never decides anything, and an
 * overdue approval is left to the expiry sweep.
 */
import { type Approval, approvalEventId, Subjects } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { appendAudit } from '../audit.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval } from '../records.js';
import { Actors } from './actors.js';
import { auditedTransaction } from './audited-transaction.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { insertOutbox } from './outbox-rows.js';

/** Claims up to `limit` pending, not overdue approvals whose `column` is due; skips locked rows. */
async function claimDue(
  client: pg.PoolClient,
  column: 'next_reminder_at' | 'escalate_at',
  limit: number,
): Promise<ApprovalRow[]> {
  const ids = await query<{ action_id: string }>(
    client,
    `select action_id from approval.approvals
      where status = 'pending' and ${column} <= now() and expires_at > now()
      order by ${column} limit $1 for update skip locked`,
    [limit],
  );
  if (ids.rows.length === 0) return [];
  // Read after the lock: the votes are those committed before it was taken.
  const rows = await query<ApprovalRow>(
    client,
    `select ${APPROVAL_COLUMNS} from approval.approvals a where a.action_id = any($1::text[])`,
    [ids.rows.map((r) => r.action_id)],
  );
  return rows.rows;
}

/**
 * Sends the due reminders: one `approval.reminder` event per approval and interval (its event
 * id carries the round, so a re-publication is a duplicate), and the next one scheduled one
 * interval later (from now: rounds missed while no replica ran are not sent in a burst).
 */
export async function remindDue(deps: LifecycleDeps, batchSize = 500): Promise<number> {
  const sent = await auditedTransaction(deps, async (client) => {
    const due = await claimDue(client, 'next_reminder_at', batchSize);
    if (due.length === 0) return [];
    const now = await transactionNow(client);
    const reminded: { approval: Approval; round: number }[] = [];
    for (const row of due) {
      const interval = row.policy.remind_after_seconds;
      const round = (
        await query<{ reminders_sent: number }>(
          client,
          `update approval.approvals set reminders_sent = reminders_sent + 1,
                next_reminder_at = case when $2::int is null then null
                                        else $3::timestamptz + make_interval(secs => $2::int) end
          where action_id = $1 returning reminders_sent`,
          [row.action_id, interval ?? null, iso(now)],
        )
      ).rows[0]?.reminders_sent as number;
      reminded.push({ approval: toApproval(row), round });
    }
    await appendAudit(
      client,
      reminded.map(({ approval, round }) => ({
        action_id: approval.action_id,
        event: 'reminded',
        actor: Actors.countersign,
        reason: null,
        data: { round },
        at: iso(now),
      })),
    );
    await insertOutbox(
      client,
      reminded.map(({ approval, round }) => ({
        action_id: approval.action_id,
        kind: 'reminder',
        subject: Subjects.reminder(approval.action_id),
        payload: approval,
        event_id: approvalEventId(approval.action_id, 'reminder', round),
      })),
    );
    return reminded;
  });
  for (const { approval, round } of sent) {
    deps.logger.info({ action_id: approval.action_id, round }, 'approvers reminded');
  }
  return sent.length;
}

/**
 * Escalates the due approvals: records `escalation` (the policy's escalate_to, which the
 * authorize policy honours), moves the deadline by escalation_extends_seconds, writes the
 * `escalated` audit event and one `approval.escalated` event. Once per approval.
 */
export async function escalateDue(deps: LifecycleDeps, batchSize = 500): Promise<number> {
  const escalated = await auditedTransaction(deps, async (client) => {
    const due = await claimDue(client, 'escalate_at', batchSize);
    if (due.length === 0) return [];
    const now = await transactionNow(client);
    const approvals: Approval[] = [];
    for (const row of due) {
      const to = row.policy.escalate_to ?? { roles: [], people: [] };
      const escalation = { at: iso(now), roles: to.roles, people: to.people };
      const extends_seconds = row.policy.escalation_extends_seconds ?? 0;
      const updated = await query<ApprovalRow>(
        client,
        `update approval.approvals a
            set escalate_at = null, escalation = $2::jsonb,
                expires_at = a.expires_at + make_interval(secs => $3::int)
          where a.action_id = $1 and a.status = 'pending' and a.escalation is null
          returning ${APPROVAL_COLUMNS}`,
        [row.action_id, JSON.stringify(escalation), extends_seconds],
      );
      const after = updated.rows[0];
      if (!after) continue;
      approvals.push(toApproval(after));
      await appendAudit(client, [
        {
          action_id: row.action_id,
          event: 'escalated',
          actor: Actors.countersign,
          reason: `no decision within ${row.policy.escalate_after_seconds ?? 0} s`,
          data: {
            roles: escalation.roles,
            people: escalation.people,
            extended_by_seconds: extends_seconds,
            expires_at: iso(after.expires_at),
          },
          at: iso(now),
        },
      ]);
    }
    await insertOutbox(
      client,
      approvals.map((approval) => ({
        action_id: approval.action_id,
        kind: 'escalated',
        subject: Subjects.escalated(approval.action_id),
        payload: approval,
      })),
    );
    return approvals;
  });
  for (const a of escalated) {
    deps.logger.info({ action_id: a.action_id, escalation: a.escalation }, 'approval escalated');
  }
  return escalated.length;
}
