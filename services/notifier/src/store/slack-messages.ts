import type pg from 'pg';

/** Where Slack put the app's message about a pending approval. */
export interface PostedSlackMessage {
  slackChannel: string;
  ts: string;
}

/** Records the message posted for `channel` and the approval (the first one stays: it is the one people see). */
export async function recordSlackMessage(
  pool: pg.Pool,
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
  pool: pg.Pool,
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
export async function forgetSlackMessage(pool: pg.Pool, channel: string, actionId: string): Promise<void> {
  await pool.query('delete from notifier.slack_messages where channel = $1 and action_id = $2', [
    channel,
    actionId,
  ]);
}
