import type pg from 'pg';

/**
 * Runs `fn` holding a lock on (channel, approval) across replicas, in a transaction on one
 * client: posting the pending message (and recording where it went) and updating it with the
 * decision take it, so a decision arriving while the post is still in flight waits for its `ts`
 * instead of posting a second message and leaving live buttons behind. Held at most one Slack
 * call long (the channel's timeout).
 */
export async function withSlackMessageLock<T>(
  pool: pg.Pool,
  channel: string,
  actionId: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `countersign.slack:${channel}:${actionId}`,
    ]);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Where Slack put the app's message about a pending approval. */
export interface PostedSlackMessage {
  slackChannel: string;
  ts: string;
}

/** Records the message posted for `channel` and the approval (the first one stays: it is the one people see). */
export async function recordSlackMessage(
  pool: pg.Pool | pg.PoolClient,
  message: { channel: string; actionId: string } & PostedSlackMessage,
): Promise<void> {
  await pool.query(
    `insert into notifier.slack_messages (channel, action_id, slack_channel, ts) values ($1, $2, $3, $4)
     on conflict (channel, action_id) do nothing`,
    [message.channel, message.actionId, message.slackChannel, message.ts],
  );
}

/** The message posted for `channel` and the approval, if one was. */
export async function postedSlackMessage(
  pool: pg.Pool | pg.PoolClient,
  channel: string,
  actionId: string,
): Promise<PostedSlackMessage | undefined> {
  const result = await pool.query<{ slack_channel: string; ts: string }>(
    'select slack_channel, ts from notifier.slack_messages where channel = $1 and action_id = $2',
    [channel, actionId],
  );
  const row = result.rows[0];
  return row ? { slackChannel: row.slack_channel, ts: row.ts } : undefined;
}

/** Forgets a message once it shows the decision: nothing will update it again. */
export async function forgetSlackMessage(
  pool: pg.Pool | pg.PoolClient,
  channel: string,
  actionId: string,
): Promise<void> {
  await pool.query('delete from notifier.slack_messages where channel = $1 and action_id = $2', [
    channel,
    actionId,
  ]);
}
