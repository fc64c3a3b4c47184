/**
 * `pnpm migrate`: applies every service's migrations as the privileged role in
 * MIGRATION_DATABASE_URL (DATABASE_URL when unset) and grants DATABASE_RUNTIME_ROLE what the
 * services need (docs/upgrading.md). Run it before starting services with MIGRATE_ON_START=false.
 */
import { runMigrateCommand } from '../packages/runtime/src/migrate-command.js';
import { approvalMigrations } from '../services/approval/src/migrations.js';
import { notifierMigrations } from '../services/notifier/src/migrations.js';

await runMigrateCommand({ sets: { approval: approvalMigrations, notifier: notifierMigrations } });
