-- The markdown files the notifier wrote, one per (channel, approval). The file's marker carries
-- the nonce recorded here: the watcher acts on a file only when its channel, path and nonce match
-- a row, so a file the notifier never wrote (a forged approval_<id>.md) or one copied from
-- another channel's folder decides nothing.
create table notifier.markdown_files (
  channel text not null,
  action_id text not null,
  path text not null,
  nonce text not null,
  written_at timestamptz not null default now(),
  primary key (channel, action_id)
);

-- Every edit of a markdown file the watcher refused: who the file claimed decided, and why. The
-- file says so too, but a file can be edited again; this is the record that stays.
create table notifier.markdown_refusals (
  id bigint generated always as identity primary key,
  channel text not null,
  action_id text not null,
  path text not null,
  claimed text not null,               -- "Approved By" as written (NUL removed), not canonicalised
  code text not null,                  -- e.g. not_written_for_channel, unknown_identity, forbidden
  message text not null,
  refused_at timestamptz not null default now()
);
create index markdown_refusals_action on notifier.markdown_refusals (channel, action_id);
