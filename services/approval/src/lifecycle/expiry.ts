/**
 * Expiry: pending approvals past their deadline become expired, one at a time (when a command
 * finds one) or in batches (the sweep of ../expiry.ts and the cleanup command).
 */
import { query } from '@countersign/runtime';
import { findApproval } from '../queries.js';
import { APPROVAL_COLUMNS, type ApprovalRow } from '../records.js';
import { auditedTransaction } from './audited-transaction.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { applyTransitions, expiryTransition } from './transitions.js';

/** Expires one approval if it is still pending and overdue; returns whether it did. */
export async function expire(deps: LifecycleDeps, actionId: string): Promise<boolean> {
  return auditedTransaction(deps, async (client) => {
    const row = await findApproval(client, actionId, { lock: true });
    if (!row?.overdue) return false;
    await applyTransitions(deps, client, [expiryTransition(row)], await transactionNow(client));
    return true;
  });
}

/**
 * Expires up to `batchSize` overdue approvals in one transaction. Rows locked by a decide in
 * progress, or by another replica's sweep, are skipped (SKIP LOCKED): the next sweep gets them
 * if they are still pending then. Returns how many it expired.
 */
export async function expireDue(deps: LifecycleDeps, batchSize = 500): Promise<number> {
  const expired = await auditedTransaction(deps, async (client) => {
    // Whole rows, votes included: each expiry's receipt attests the votes it ended with.
    const due = await query<ApprovalRow>(
      client,
      `select ${APPROVAL_COLUMNS} from approval.approvals a
        where a.status = 'pending' and a.expires_at <= now()
        order by a.expires_at limit $1 for update of a skip locked`,
      [batchSize],
    );
    if (due.rows.length === 0) return [];
    return applyTransitions(deps, client, due.rows.map(expiryTransition), await transactionNow(client));
  });
  for (const a of expired) deps.logger.info({ action_id: a.action_id }, 'approval expired');
  return expired.length;
}

/** Sweeps until nothing overdue is left (or `maxBatches` ran): what the cleanup command calls. */
export async function expireAllDue(deps: LifecycleDeps, batchSize = 500, maxBatches = 100): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await expireDue(deps, batchSize);
    total += n;
    if (n < batchSize) break;
  }
  return total;
}
