/**
 * The notifier schema's migrate job, compiled into the image (`node services/notifier/dist/migrate.js`):
 * the compose `migrate` job runs it after the approval service's. `pnpm migrate`
 * (scripts/migrate.ts) runs every service's sets in one process instead.
 */
import { runMigrateCommand } from '@countersign/runtime';
import { notifierMigrations } from './migrations.js';

await runMigrateCommand({ sets: { notifier: notifierMigrations } });
