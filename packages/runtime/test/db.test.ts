/**
 * The transaction helper against a real PostgreSQL whose connections go away mid-transaction,
 * as they do when the server crashes or an operator terminates them.
 */
import { CountersignError } from '@countersign/contracts';
import { withTransaction } from '@countersign/runtime';
import { useTestDatabase, waitUntil } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const db = await useTestDatabase('runtime_db');
const pool = new pg.Pool({ connectionString: db.url, max: 2 });
pool.on('error', () => {});
const admin = new pg.Pool({ connectionString: db.url, max: 1 });
// The database is dropped with its connections at file end: an idle client's error then is expected.
admin.on('error', () => {});
afterAll(async () => {
  await pool.end();
  await admin.end();
});

describe('withTransaction', () => {
  it('answers unavailable, and the process lives on, when the server ends the connection between statements', async () => {
    let terminated = false;
    const outcome = withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
      // The server's goodbye arrives while no statement runs (the service awaits NATS here):
      // an 'error' event on the checked-out client, which only the helper can listen to.
      // pg has no public flag for it; `_queryable` turns false as the 'error' event is emitted.
      await waitUntil(() => !(client as unknown as { _queryable: boolean })._queryable, {
        message: 'the client to see its connection end',
      });
      terminated = true;
      await client.query('select 1');
    });
    await expect(outcome).rejects.toSatisfy(
      (err) => err instanceof CountersignError && err.code === 'unavailable',
    );
    expect(terminated).toBe(true);
    // The broken client was not handed back: the pool still works.
    expect((await withTransaction(pool, (c) => c.query('select 1 as one'))).rows).toEqual([{ one: 1 }]);
  });
});
