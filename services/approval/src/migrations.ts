import { fileURLToPath } from 'node:url';
import type { MigrationSet } from '@countersign/runtime';

/**
 * The approval service's schema and its forward-only migrations: applied by `pnpm migrate` (or at
 * start with MIGRATE_ON_START), and what the service checks the database against at start.
 */
export const approvalMigrations: MigrationSet = {
  dir: fileURLToPath(new URL('../migrations', import.meta.url)),
  schema: 'approval',
};
