-- The delivery worker claims, per channel, the soonest due scheduled deliveries up to the
-- channel's free slots. With this index that is a few index probes per channel, however long
-- the backlog: without it every claim ranked all due deliveries, so a backlog made each claim
-- slower, and the worker fell further behind.
create index deliveries_scheduled_channel on notifier.deliveries (channel, next_attempt_at, id)
  where status = 'scheduled';
