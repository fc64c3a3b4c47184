/** What every lifecycle function is handed: the database, the policy, a logger and the metrics it feeds. */
import type { Directory, Keyring, Logger } from '@countersign/runtime';
import type pg from 'pg';
import type { AuditHead } from '../audit.js';
import type { AuditKey } from '../audit-key.js';
import type { ApprovalMetrics } from '../metrics.js';
import type { PolicyClient } from '../policy.js';

/** The metrics the lifecycle records itself, as its changes commit. */
export type LifecycleMetrics = Pick<ApprovalMetrics, 'decided'>;

export interface LifecycleDeps {
  pool: pg.Pool;
  policy: PolicyClient;
  /** The directory in force (it reloads): who an identity is, what it may request. */
  directory: () => Directory;
  logger: Logger;
  /** Signs the receipt of every approval that turns terminal, in the transaction that does it. */
  keyring: Keyring;
  /** The receipts' `iss`: PUBLIC_URL, or `countersign` without one. */
  issuer: string;
  /**
   * Fed by the lifecycle, never by a transport: a decision is counted once, after its
   * transaction commits, whichever door it came through.
   */
  metrics: LifecycleMetrics;
  /** The audit chain: the key new events are chained with, and where committed heads go. */
  audit: {
    key: AuditKey;
    /** The signed-heads publisher (audit-heads.ts); never throws. */
    heads: { published(heads: readonly AuditHead[]): void };
  };
}
