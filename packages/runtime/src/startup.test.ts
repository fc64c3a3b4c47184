import { describe, expect, it } from 'vitest';
import { describeDatabase, describeNats } from './startup.js';

describe('where a start-up error says it looked', () => {
  it('names a database as host:port/database, never its user or password', () => {
    expect(describeDatabase('postgres://app:s3cret@db.internal:5433/countersign?sslmode=require')).toBe(
      'db.internal:5433/countersign',
    );
    expect(describeDatabase('postgresql://app:s3cret@db/countersign')).toBe('db:5432/countersign');
    expect(describeDatabase('not a url s3cret')).toBe('[unparseable DATABASE_URL]');
  });

  it('names every NATS server of the list, never a user or password', () => {
    expect(describeNats('nats://ops:s3cret@n1:4222, nats://n2:4223,tls://token@n3:4222')).toBe(
      'nats://n1:4222,nats://n2:4223,tls://n3:4222',
    );
    expect(describeNats('127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });
});
