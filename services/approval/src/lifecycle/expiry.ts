/**
 * Expiry: pending approvals past their deadline become expired, one at a time (when a command
 * finds one) or in batches (the sweep of ../expiry.ts and the cleanup command).
 */
import { query } from '@countersign/runtime';
import { findApproval } from '../queries.js';
import { auditedTransaction } from './audited-transaction.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { applyTransitions, expiryTransition } from './transitions.js';

/** Expires one approval if it is still pending and overdue; returns whether it did. */
export async function expire(deps: LifecycleDeps, actionId: string): Promise<boolean> {
  return auditedTransaction(deps, async (client) => {
    const row = await findApproval(client, actionId, { lock: true });
    if (!row?.overdue) return false;
    await applyTransitions(
      client,
      [expiryTransition(row.action_id, row.policy.timeout_seconds)],
      await transactionNow(client),
    );
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
    const due = await query<{ action_id: string; timeout_seconds: number }>(
      client,
      `select action_id, (policy->>'timeout_seconds')::int as timeout_seconds from approval.approvals
        where status = 'pending' and expires_at <= now()
        order by expires_at limit $1 for update skip locked`,
      [batchSize],
    );
    if (due.rows.length === 0) return [];
    const transitions = due.rows.map((r) => expiryTransition(r.action_id, r.timeout_seconds));
    return applyTransitions(client, transitions, await transactionNow(client));
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
