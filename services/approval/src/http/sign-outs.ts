/**
 * Sign-outs of dashboard sessions. The session cookie is stateless (see auth.ts), so clearing it
 * in the browser does not stop a copy of it from working until it expires; the session ids
 * recorded here are refused by every replica, which share the database.
 */
import { query } from '@countersign/runtime';
import type pg from 'pg';
import type { Session } from './auth.js';

/** Ends the session everywhere; prunes sign-outs whose sessions have expired anyway. */
export async function recordSignOut(pool: pg.Pool, session: Session): Promise<void> {
  await query(
    pool,
    `insert into approval.signed_out_sessions (session_id, expires_at)
     values ($1, to_timestamp($2 / 1000.0)) on conflict (session_id) do nothing`,
    [session.id, session.expiresAt],
  );
  await query(pool, 'delete from approval.signed_out_sessions where expires_at < now()', []);
}

/** Whether the session was signed out. */
export async function isSignedOut(pool: pg.Pool, sessionId: string): Promise<boolean> {
  const result = await query(pool, 'select 1 from approval.signed_out_sessions where session_id = $1', [
    sessionId,
  ]);
  return (result.rowCount ?? 0) > 0;
}
