import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/** The record of a markdown file the notifier wrote for a channel. */
export interface WrittenFile {
  path: string;
  nonce: string;
}

/**
 * Records that the notifier writes (or rewrites) `path` for `channel` and the approval, and
 * returns the file's nonce: the one recorded before, so every rendering of an approval carries
 * the same nonce, or a new random one. Recorded before the file is written: a crash in between
 * leaves a row without a file, never a file without a row.
 */
export async function recordWrittenFile(
  pool: pg.Pool,
  file: { channel: string; actionId: string; path: string },
): Promise<string> {
  const result = await pool.query<{ nonce: string }>(
    `insert into notifier.markdown_files (channel, action_id, path, nonce)
     values ($1, $2, $3, $4)
     on conflict (channel, action_id) do update set path = excluded.path, written_at = now()
     returning nonce`,
    [file.channel, file.actionId, file.path, randomBytes(16).toString('base64url')],
  );
  return result.rows[0]?.nonce as string;
}

/** The file the notifier wrote for `channel` and the approval, if any. */
export async function writtenFile(
  pool: pg.Pool,
  channel: string,
  actionId: string,
): Promise<WrittenFile | undefined> {
  const result = await pool.query<WrittenFile>(
    'select path, nonce from notifier.markdown_files where channel = $1 and action_id = $2',
    [channel, actionId],
  );
  return result.rows[0];
}

export interface MarkdownRefusal {
  channel: string;
  actionId: string;
  path: string;
  /** "Approved By" as the file had it. */
  claimed: string;
  code: string;
  message: string;
}

/** Audits a refused edit. */
export async function recordRefusal(pool: pg.Pool, refusal: MarkdownRefusal): Promise<void> {
  // PostgreSQL text cannot hold NUL; a file can.
  const clean = (text: string, max: number) => text.replace(/\0/g, '').slice(0, max);
  await pool.query(
    `insert into notifier.markdown_refusals (channel, action_id, path, claimed, code, message)
     values ($1, $2, $3, $4, $5, $6)`,
    [
      refusal.channel,
      refusal.actionId,
      refusal.path,
      clean(refusal.claimed, 512),
      refusal.code,
      clean(refusal.message, 2000),
    ],
  );
}
