import { fileURLToPath } from 'node:url';
import type { MigrationSet } from '@countersign/runtime';

/**
 * The approval service's schema and its forward-only migrations: applied by `pnpm migrate` (or at
 * start with MIGRATE_ON_START), and what the service checks the database against at start.
 */
export const approvalMigrations: MigrationSet = {
  dir: fileURLToPath(new URL('../migrations', import.meta.url)),
  schema: 'approval',
  // The audit trail and the votes are append-only for the service's role (docs/security.md).
  appendOnly: ['audit_events', 'votes', 'used_review_tokens'],
};
