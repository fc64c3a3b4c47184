import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from './logger.js';

export interface MigrateOptions {
  /** Directory of numbered, forward-only files: `000001_init.sql`, `000002_....sql`. */
  dir: string;
  /** Schema that holds the bookkeeping table, and is created if missing. */
  schema: string;
  logger: Logger;
}

const FILE = /^(\d{6})_[a-z0-9_]+\.sql$/;

/**
 * Applies pending migrations, each in its own transaction, under a session-level advisory
 * lock so several replicas starting together apply each file exactly once. An applied file
 * whose content changed is an error: migrations are forward-only, never edited.
 */
export async function migrate(pool: pg.Pool, options: MigrateOptions): Promise<string[]> {
  const files = readdirSync(options.dir)
    .filter((f) => FILE.test(f))
    .sort();
  const lockKey = `countersign.migrate.${options.schema}`;
  const applied: string[] = [];
  const client = await pool.connect();
  try {
    // Session-level lock around everything, bookkeeping DDL included: concurrent
    // `create table if not exists` statements race in the catalog otherwise.
    await client.query('select pg_advisory_lock(hashtext($1))', [lockKey]);
    await client.query(`create schema if not exists ${quoteIdent(options.schema)}`);
    await client.query(
      `create table if not exists ${quoteIdent(options.schema)}.migrations (
         name text primary key, checksum text not null, applied_at timestamptz not null default now())`,
    );
    for (const file of files) {
      const sql = readFileSync(join(options.dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      await client.query('begin');
      try {
        const done = await client.query<{ checksum: string }>(
          `select checksum from ${quoteIdent(options.schema)}.migrations where name = $1`,
          [file],
        );
        if (done.rows[0]) {
          if (done.rows[0].checksum !== checksum) {
            throw new Error(
              `migration ${file} was changed after it was applied; add a new migration instead`,
            );
          }
          await client.query('commit');
          continue;
        }
        await client.query(sql);
        await client.query(
          `insert into ${quoteIdent(options.schema)}.migrations (name, checksum) values ($1, $2)`,
          [file, checksum],
        );
        await client.query('commit');
        applied.push(file);
        options.logger.info({ migration: file }, 'migration applied');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
    client.release();
  }
  return applied;
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return `"${name}"`;
}
