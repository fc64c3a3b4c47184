/**
 * The start-up check of a service that does not migrate itself: the database's schema must be
 * one this code was written for. Older (a migration it needs is missing): run `pnpm migrate`.
 * Newer (migrations it does not know): only expand migrations are allowed, which is what lets
 * the previous version's replicas keep running during a rolling upgrade (docs/upgrading.md).
 */
import type pg from 'pg';
import { type MigrationFile, type MigrationSet, migrationFiles, quoteIdent } from './migrate.js';

/** A migration as the database recorded it. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  expand: boolean;
}

export type SchemaMismatch = 'older' | 'newer' | 'changed' | 'no_access';

/**
 * The service must not start on this database. `fields` are the log line's fields: the schema,
 * what is missing or unknown, and what to do.
 */
export class SchemaVersionError extends Error {
  readonly mismatch: SchemaMismatch;
  readonly fields: Record<string, unknown>;

  constructor(mismatch: SchemaMismatch, message: string, fields: Record<string, unknown>) {
    super(message);
    this.name = 'SchemaVersionError';
    this.mismatch = mismatch;
    this.fields = fields;
  }
}

/** Compares the code's migrations with the applied ones; undefined when the service may start. */
export function compareSchema(
  schema: string,
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
): SchemaVersionError | undefined {
  const byName = new Map(applied.map((m) => [m.name, m]));
  const known = new Set(files.map((f) => f.name));
  const code = files.at(-1)?.name ?? null;
  const database =
    applied
      .map((m) => m.name)
      .sort()
      .at(-1) ?? null;
  const versions = { schema, code_version: code, database_version: database };

  const changed = files.filter((f) => byName.has(f.name) && byName.get(f.name)?.checksum !== f.checksum);
  if (changed.length > 0) {
    return new SchemaVersionError(
      'changed',
      `database schema "${schema}" has migrations that differ from this service's files; migrations are never edited`,
      { ...versions, changed: changed.map((f) => f.name) },
    );
  }
  const missing = files.filter((f) => !byName.has(f.name)).map((f) => f.name);
  if (missing.length > 0) {
    return new SchemaVersionError(
      'older',
      `database schema "${schema}" is older than this service: run \`pnpm migrate\` (or the migrate job) first`,
      { ...versions, missing },
    );
  }
  const unknown = applied.filter((m) => !known.has(m.name));
  const blocking = unknown.filter((m) => !m.expand).map((m) => m.name);
  if (blocking.length > 0) {
    return new SchemaVersionError(
      'newer',
      `database schema "${schema}" is newer than this service: upgrade the service, or roll back the migration`,
      { ...versions, unknown: blocking },
    );
  }
  return undefined;
}

/**
 * The migrations the database recorded in `schema`; empty when it was never migrated. A schema
 * this connection's role may not read is a {@link SchemaVersionError} (`no_access`): the migrate
 * step ran without granting this role.
 */
export async function appliedMigrations(pool: pg.Pool, schema: string): Promise<AppliedMigration[]> {
  const table = `${quoteIdent(schema)}.migrations`;
  // Privileges first: naming an object in a schema without USAGE is an error, not a null.
  const access = await pool.query<{ role: string; schema_ok: boolean | null; table_ok: boolean | null }>(
    `select current_user as role,
            (select has_schema_privilege(oid, 'USAGE') from pg_namespace where nspname = $1) as schema_ok,
            (select has_table_privilege(c.oid, 'SELECT') from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = $1 and c.relname = 'migrations') as table_ok`,
    [schema],
  );
  const { role, schema_ok, table_ok } = access.rows[0] ?? { role: '?', schema_ok: null, table_ok: null };
  if (schema_ok === null || table_ok === null) {
    if (schema_ok === false) throw noAccess(schema, role);
    return [];
  }
  if (!schema_ok || !table_ok) throw noAccess(schema, role);
  const hasExpand = await pool.query(
    `select 1 from information_schema.columns
      where table_schema = $1 and table_name = 'migrations' and column_name = 'expand'`,
    [schema],
  );
  const rows = await pool.query<AppliedMigration>(
    `select name, checksum, ${hasExpand.rowCount ? 'expand' : 'false as expand'} from ${table} order by name`,
  );
  return rows.rows;
}

function noAccess(schema: string, role: string): SchemaVersionError {
  return new SchemaVersionError(
    'no_access',
    `database schema "${schema}" exists but role ${role} may not read it: run \`pnpm migrate\` with DATABASE_RUNTIME_ROLE=${role}`,
    { schema, role },
  );
}

/** Throws a {@link SchemaVersionError} unless the database's schema is one this code supports. */
export async function checkSchemaVersion(pool: pg.Pool, set: MigrationSet): Promise<void> {
  const mismatch = compareSchema(
    set.schema,
    migrationFiles(set.dir),
    await appliedMigrations(pool, set.schema),
  );
  if (mismatch) throw mismatch;
}
