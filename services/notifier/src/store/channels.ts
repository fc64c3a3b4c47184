import type pg from 'pg';

/** Channels disabled by a receiver (HTTP 410): their deliveries are dead-lettered, never sent. */

/** Scheduled deliveries of disabled channels are dead-lettered without an attempt. */
export async function deadLetterDisabledChannels(pool: pg.Pool): Promise<number> {
  const result = await pool.query(
    `update notifier.deliveries d
     set status = 'dead', finished_at = now(), updated_at = now(),
         last_error = 'channel disabled: ' || c.reason
     from notifier.disabled_channels c
     where d.channel = c.channel and d.status = 'scheduled'`,
  );
  return result.rowCount ?? 0;
}

export async function listDisabledChannels(
  pool: pg.Pool,
): Promise<{ channel: string; reason: string; disabled_at: Date }[]> {
  const result = await pool.query(
    'select channel, reason, disabled_at from notifier.disabled_channels order by channel',
  );
  return result.rows;
}

export async function enableChannel(pool: pg.Pool, channel: string): Promise<boolean> {
  const result = await pool.query('delete from notifier.disabled_channels where channel = $1', [channel]);
  return result.rowCount === 1;
}
