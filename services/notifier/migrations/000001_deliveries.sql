-- Events the notifier has accepted from APPROVAL_EVENTS; deliveries refer to them, so a
-- retry or replay sends exactly what the event said, without reading the stream again.
create table notifier.events (
  id text primary key,                 -- ApprovalEvent.id (= Nats-Msg-Id, = webhook-id)
  type text not null,
  action_id text not null,
  stream_seq bigint,
  body jsonb not null,                 -- the ApprovalEvent as received
  received_at timestamptz not null default now()
);
create index events_action on notifier.events (action_id);

-- One row per (event, channel, target): the unique key is what makes a side effect happen at
-- most once, whatever the stream redelivers and whichever replica gets it.
create table notifier.deliveries (
  id bigint generated always as identity primary key,
  event_id text not null references notifier.events (id),
  channel text not null,
  kind text not null,
  target text not null,
  target_detail jsonb not null default '{}',
  status text not null check (status in ('scheduled', 'in_progress', 'delivered', 'dead', 'superseded')),
  attempts int not null default 0,
  -- attempts made before the last replay: the retry schedule restarts after a replay
  replay_base int not null default 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  attempt_started_at timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  unique (event_id, channel, target)
);
create index deliveries_due on notifier.deliveries (next_attempt_at) where status = 'scheduled';
create index deliveries_leased on notifier.deliveries (lease_until) where status = 'in_progress';
create index deliveries_dead on notifier.deliveries (finished_at desc) where status = 'dead';

-- Every attempt, kept for the dead-letter listing and for anyone asking what happened.
create table notifier.attempts (
  delivery_id bigint not null references notifier.deliveries (id) on delete cascade,
  attempt int not null,
  started_at timestamptz not null,
  finished_at timestamptz not null default now(),
  outcome text not null,               -- delivered | retry | failed | gone | unknown | interrupted
  status_code int,
  error text,
  primary key (delivery_id, attempt)
);

-- Channels switched off by their receiver (HTTP 410 Gone); `dlq enable` switches one back on.
create table notifier.disabled_channels (
  channel text primary key,
  reason text not null,
  disabled_at timestamptz not null default now()
);

-- Messages on the event subjects that are not valid events: kept, never silently dropped.
create table notifier.invalid_events (
  id bigint generated always as identity primary key,
  subject text not null,
  stream_seq bigint,
  error text not null,
  raw text not null,
  received_at timestamptz not null default now()
);
