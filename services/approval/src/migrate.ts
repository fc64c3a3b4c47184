/**
 * The approval schema's migrate job, compiled into the image (`node services/approval/dist/migrate.js`):
 * the compose `migrate` job runs it and the notifier's, since an image holds no TypeScript and no
 * scripts/. `pnpm migrate` (scripts/migrate.ts) runs every service's sets in one process instead.
 */
import { runMigrateCommand } from '@countersign/runtime';
import { approvalMigrations } from './migrations.js';

await runMigrateCommand({ sets: { approval: approvalMigrations } });
