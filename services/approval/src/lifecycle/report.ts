/**
 * Report: the requester records how an approved action went (executed or failed), once. Who may
 * report (the requester principal) is the policy's `report` rule.
 */
import { type Approval, CountersignError } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import { appendAudit } from '../audit.js';
import { findApproval, notFound } from '../queries.js';
import { iso, toApproval } from '../records.js';
import { auditedTransaction } from './audited-transaction.js';
import { authorize } from './authorize.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { containsUnstorable, unstorableError } from './storable.js';

export interface ReportInput {
  action_id: string;
  outcome: 'executed' | 'failed';
  detail?: string | undefined;
  /** SHA-256 of the receipt the requester verified before running (recorded with the report). */
  receipt_sha256?: string | undefined;
}

/**
 * Adds the execution outcome of an approved action to its history. Only the requester reports,
 * once; reporting the same outcome again is a no-op, a different one a conflict.
 */
export async function report(deps: LifecycleDeps, input: ReportInput, actor: string): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  const current = await findApproval(deps.pool, input.action_id);
  if (!current) throw notFound(input.action_id);
  // Outside the transaction (a network call); who requested an approval never changes.
  await authorize(deps, 'report', toApproval(current), actor);
  return auditedTransaction(deps, async (client) => {
    const row = await findApproval(client, input.action_id, { lock: true });
    if (!row) throw notFound(input.action_id);
    if (row.status !== 'approved') {
      throw new CountersignError(
        'invalid_request',
        `only approved approvals take a report; this one is ${row.status}`,
        {
          action_id: input.action_id,
          status: row.status,
        },
      );
    }
    const previous = await query<{ data: { outcome: string; detail: string | null } }>(
      client,
      "select data from approval.audit_events where action_id = $1 and event = 'reported' limit 1",
      [input.action_id],
    );
    const before = previous.rows[0]?.data;
    const detail = input.detail ?? null;
    if (before) {
      if (before.outcome === input.outcome && before.detail === detail) return toApproval(row);
      throw new CountersignError(
        'idempotency_conflict',
        `the outcome of ${input.action_id} was already reported`,
        {
          action_id: input.action_id,
          outcome: before.outcome,
        },
      );
    }
    const now = await transactionNow(client);
    await appendAudit(client, [
      {
        action_id: input.action_id,
        event: 'reported',
        actor,
        reason: detail,
        data: {
          outcome: input.outcome,
          detail,
          ...(input.receipt_sha256 ? { receipt_sha256: input.receipt_sha256 } : {}),
        },
        at: iso(now),
      },
    ]);
    return toApproval(row);
  });
}
