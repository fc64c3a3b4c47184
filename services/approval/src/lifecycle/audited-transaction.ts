/**
 * The transaction of every lifecycle change that writes audit events: its events are chained
 * with the audit key, and the chains' new heads are handed to the signed-heads publisher once
 * it has committed (never before: a head of a rolled-back event would accuse the database of
 * losing it).
 */
import { withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import { type AuditTransaction, beginAudit, endAudit } from '../audit.js';
import type { LifecycleDeps } from './deps.js';

export async function auditedTransaction<T>(
  deps: Pick<LifecycleDeps, 'pool' | 'audit'>,
  fn: (client: pg.PoolClient) => Promise<T>,
  spanName?: string,
): Promise<T> {
  let tx: AuditTransaction | undefined;
  const result = await withTransaction(
    deps.pool,
    async (client) => {
      // A fresh collection per attempt: a retried transaction's heads are only its last attempt's.
      tx = beginAudit(client, deps.audit.key);
      try {
        return await fn(client);
      } finally {
        endAudit(client);
      }
    },
    spanName,
  );
  if (tx && tx.heads.size > 0) deps.audit.heads.published([...tx.heads.values()]);
  return result;
}
