-- The Slack app's messages about pending approvals, one per (channel, approval): where Slack put
-- each one (channel id and ts), so the decision, from any door, can update that very message
-- (who decided, when, no live buttons). A row is removed once its message has been updated.
create table notifier.slack_messages (
  channel text not null,
  action_id text not null,
  slack_channel text not null,
  ts text not null,
  posted_at timestamptz not null default now(),
  primary key (channel, action_id)
);
