import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestDatabase } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { migrate, migrationFiles } from '../src/migrate.js';
import { appliedMigrations } from '../src/schema-version.js';

const db = await useTestDatabase('migrate');
const pool = new pg.Pool({ connectionString: db.url, max: 6 });
// The database is dropped with its connections at file end: an idle client's error then is
// expected, and without a listener it would be an uncaught exception in the test run.
pool.on('error', () => {});
afterAll(() => pool.end());
const logger = createLogger({ service: 'test', level: 'silent' });

describe('migrate', () => {
  it('applies each file once, even when replicas migrate at the same time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-migrations-'));
    writeFileSync(join(dir, '000001_init.sql'), 'create table m1.items (id int primary key);');
    writeFileSync(join(dir, '000002_more.sql'), 'alter table m1.items add column name text;');
    writeFileSync(join(dir, 'README.md'), 'not a migration');
    const results = await Promise.all([1, 2, 3].map(() => migrate(pool, { dir, schema: 'm1', logger })));
    expect(results.flat().sort()).toEqual(['000001_init.sql', '000002_more.sql']);
    const rows = await pool.query('select name from m1.migrations order by name');
    expect(rows.rows.map((r) => r.name)).toEqual(['000001_init.sql', '000002_more.sql']);
    expect(await migrate(pool, { dir, schema: 'm1', logger })).toEqual([]);
  });

  it('refuses an applied migration that was edited, and rolls back a failing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-migrations-'));
    writeFileSync(join(dir, '000001_init.sql'), 'create table m2.items (id int);');
    await migrate(pool, { dir, schema: 'm2', logger });
    writeFileSync(join(dir, '000001_init.sql'), 'create table m2.items (id bigint);');
    await expect(migrate(pool, { dir, schema: 'm2', logger })).rejects.toThrow(/was changed/);

    const dir2 = mkdtempSync(join(tmpdir(), 'cs-migrations-'));
    writeFileSync(join(dir2, '000001_bad.sql'), 'create table m3.ok (id int); select * from no_such_table;');
    await expect(migrate(pool, { dir: dir2, schema: 'm3', logger })).rejects.toThrow(/no_such_table/);
    const exists = await pool.query("select to_regclass('m3.ok') as t");
    expect(exists.rows[0].t).toBeNull();
  });

  it('records which migrations are expand migrations, and a database migrated before that column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-migrations-'));
    writeFileSync(join(dir, '000001_init.sql'), 'create table m4.items (id int);');
    // The bookkeeping table as it was before the expand column.
    await pool.query('create schema m4');
    await pool.query(
      'create table m4.migrations (name text primary key, checksum text not null, applied_at timestamptz not null default now())',
    );
    expect(await appliedMigrations(pool, 'm4')).toEqual([]);
    await migrate(pool, { dir, schema: 'm4', logger });
    writeFileSync(
      join(dir, '000002_note.sql'),
      '-- expand: a nullable column older code never reads\nalter table m4.items add column note text;',
    );
    await migrate(pool, { dir, schema: 'm4', logger });
    const applied = await appliedMigrations(pool, 'm4');
    expect(applied.map(({ name, expand }) => ({ name, expand }))).toEqual([
      { name: '000001_init.sql', expand: false },
      { name: '000002_note.sql', expand: true },
    ]);
    expect(migrationFiles(dir).map((f) => f.expand)).toEqual([false, true]);
  });
});
