import { describe, expect, it } from 'vitest';
import type { MigrationFile } from './migrate.js';
import { compareSchema } from './schema-version.js';

const file = (name: string, checksum = name): MigrationFile => ({ name, sql: '', checksum, expand: false });
const applied = (name: string, expand = false, checksum = name) => ({ name, checksum, expand });
const code = [file('000001_a.sql'), file('000002_b.sql')];

describe('compareSchema', () => {
  it('accepts the schema the code was written for', () => {
    expect(compareSchema('s', code, [applied('000001_a.sql'), applied('000002_b.sql')])).toBeUndefined();
  });

  it('calls a schema missing a migration older, naming what is missing', () => {
    const err = compareSchema('s', code, [applied('000001_a.sql')]);
    expect(err?.mismatch).toBe('older');
    expect(err?.fields).toMatchObject({ code_version: '000002_b.sql', database_version: '000001_a.sql' });
    expect(err?.fields.missing).toEqual(['000002_b.sql']);
    expect(compareSchema('s', code, [])?.fields).toMatchObject({ database_version: null });
  });

  it('calls unknown migrations newer, unless every one of them is an expand migration', () => {
    const base = [applied('000001_a.sql'), applied('000002_b.sql')];
    const newer = compareSchema('s', code, [...base, applied('000003_c.sql'), applied('000004_d.sql', true)]);
    expect(newer?.mismatch).toBe('newer');
    expect(newer?.fields.unknown).toEqual(['000003_c.sql']);
    expect(compareSchema('s', code, [...base, applied('000003_c.sql', true)])).toBeUndefined();
  });

  it('refuses an applied migration whose file was edited', () => {
    const err = compareSchema('s', code, [applied('000001_a.sql', false, 'other'), applied('000002_b.sql')]);
    expect(err?.mismatch).toBe('changed');
    expect(err?.fields.changed).toEqual(['000001_a.sql']);
  });
});
