import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from './logger.js';

/** A service's migrations: where its files are and the schema they build. */
export interface MigrationSet {
  /** Directory of numbered, forward-only files: `000001_init.sql`, `000002_....sql`. */
  dir: string;
  /** Schema that holds the bookkeeping table, and is created if missing. */
  schema: string;
  /**
   * Tables whose rows the runtime role may only insert and read, never update or delete (an
   * audit trail, votes): what the table's own triggers refuse, its privileges refuse too, so it
   * holds even where a trigger is dropped by its owner.
   */
  appendOnly?: readonly string[];
}

export interface MigrateOptions extends MigrationSet {
  logger: Logger;
  /**
   * The role the service runs as, when it is not the migrating one: after migrating, it gets
   * what the service needs and nothing more (no DDL); see {@link grantRuntimeRole}.
   */
  runtimeRole?: string | undefined;
}

/** One migration file as the code knows it. */
export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
  /**
   * An expand migration (a line `-- expand: <why>`): it only adds (a table, a nullable column,
   * an index), so code written before it still works on the schema. Services older than it may
   * keep running on it during a rolling upgrade; any other migration needs them upgraded first.
   */
  expand: boolean;
}

const FILE = /^(\d{6})_[a-z0-9_]+\.sql$/;
const EXPAND = /^-- expand\b/m;

/** The set's migration files, in the order they apply. */
export function migrationFiles(dir: string): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => FILE.test(f))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), 'utf8');
      return {
        name,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
        expand: EXPAND.test(sql),
      };
    });
}

/**
 * Applies pending migrations, each in its own transaction, under a session-level advisory
 * lock so several replicas (or a migrate job and a replica) apply each file exactly once. An
 * applied file whose content changed is an error: migrations are forward-only, never edited.
 * With `runtimeRole`, grants that role the schema's tables afterwards (also when nothing was
 * pending, so a new runtime role is brought up to date by running it again).
 */
export async function migrate(pool: pg.Pool, options: MigrateOptions): Promise<string[]> {
  const files = migrationFiles(options.dir);
  const schema = quoteIdent(options.schema);
  const lockKey = `countersign.migrate.${options.schema}`;
  const applied: string[] = [];
  const client = await pool.connect();
  try {
    // Session-level lock around everything, bookkeeping DDL included: concurrent
    // `create table if not exists` statements race in the catalog otherwise.
    await client.query('select pg_advisory_lock(hashtext($1))', [lockKey]);
    await client.query(`create schema if not exists ${schema}`);
    await client.query(
      `create table if not exists ${schema}.migrations (
         name text primary key, checksum text not null, applied_at timestamptz not null default now())`,
    );
    // Whether older code may run on the schema (see MigrationFile.expand); rows from before
    // this column are not expand migrations.
    await client.query(
      `alter table ${schema}.migrations add column if not exists expand boolean not null default false`,
    );
    for (const file of files) {
      await client.query('begin');
      try {
        const done = await client.query<{ checksum: string }>(
          `select checksum from ${schema}.migrations where name = $1`,
          [file.name],
        );
        if (done.rows[0]) {
          if (done.rows[0].checksum !== file.checksum) {
            throw new Error(
              `migration ${file.name} was changed after it was applied; add a new migration instead`,
            );
          }
          await client.query('commit');
          continue;
        }
        await client.query(file.sql);
        await client.query(`insert into ${schema}.migrations (name, checksum, expand) values ($1, $2, $3)`, [
          file.name,
          file.checksum,
          file.expand,
        ]);
        await client.query('commit');
        applied.push(file.name);
        options.logger.info({ migration: file.name, schema: options.schema }, 'migration applied');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      }
    }
    if (options.runtimeRole) {
      await grantRuntimeRole(client, options.schema, options.runtimeRole, options.appendOnly);
    }
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
    client.release();
  }
  return applied;
}

/**
 * What a service's runtime role may do in its schema: read and write rows, draw from
 * sequences, read (never write) the migrations table for its version check, only insert and
 * read the `appendOnly` tables. No DDL, no TRUNCATE, no ownership: the migrating role owns
 * everything, so the runtime role cannot alter, disable or drop a table's triggers or
 * constraints. Repeatable; run after every migration, so tables a migration adds are covered too.
 */
export async function grantRuntimeRole(
  client: pg.ClientBase,
  schemaName: string,
  role: string,
  appendOnly: readonly string[] = [],
): Promise<void> {
  const schema = quoteIdent(schemaName);
  const grantee = quoteIdent(role);
  await client.query('begin');
  try {
    await client.query(`grant usage on schema ${schema} to ${grantee}`);
    await client.query(
      `grant select, insert, update, delete on all tables in schema ${schema} to ${grantee}`,
    );
    await client.query(`grant usage, select on all sequences in schema ${schema} to ${grantee}`);
    await client.query(`revoke insert, update, delete on ${schema}.migrations from ${grantee}`);
    for (const table of appendOnly) {
      await client.query(`revoke update, delete, truncate on ${schema}.${quoteIdent(table)} from ${grantee}`);
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return `"${name}"`;
}
