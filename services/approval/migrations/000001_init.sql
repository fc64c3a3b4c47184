-- The approval lifecycle: approvals, votes, the hash-chained audit trail and the event outbox.
-- Forward-only: never edit this file once applied; add 000002_... instead.

create table approval.approvals (
  action_id          text primary key check (action_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$'),
  action_type        text not null,
  description        text not null,
  context            jsonb not null default '{}',
  requested_by       text not null,
  run_id             text,
  -- sha256 of the canonical JSON of the parsed request: same action_id + same hash = re-submission.
  request_hash       text not null,
  status             text not null check (status in ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
  policy             jsonb not null,
  required_approvals integer not null check (required_approvals >= 1),
  created_at         timestamptz not null,
  expires_at         timestamptz not null,
  decided_at         timestamptz,
  decided_by         text,
  decision_reason    text,
  -- A pending approval carries no decision; a terminal one always says who decided and when.
  constraint decision_matches_status check (
    (status = 'pending' and decided_at is null and decided_by is null)
    or (status <> 'pending' and decided_at is not null and decided_by is not null)
  )
);

-- Terminal states never change again, and a request's content never changes at all.
create function approval.guard_approval_update() returns trigger language plpgsql as $$
begin
  if old.status <> 'pending' then
    raise exception 'approval % is % and can never change again', old.action_id, old.status
      using errcode = 'integrity_constraint_violation';
  end if;
  if (new.action_id, new.action_type, new.description, new.context, new.requested_by, new.run_id,
      new.request_hash, new.policy, new.required_approvals, new.created_at, new.expires_at)
     is distinct from
     (old.action_id, old.action_type, old.description, old.context, old.requested_by, old.run_id,
      old.request_hash, old.policy, old.required_approvals, old.created_at, old.expires_at) then
    raise exception 'approval % may only change its status and decision', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

create trigger approvals_guard before update on approval.approvals
  for each row execute function approval.guard_approval_update();

-- The list filters, newest first, with (created_at, action_id) as the keyset.
create index approvals_created on approval.approvals (created_at desc, action_id desc);
create index approvals_status on approval.approvals (status, created_at desc, action_id desc);
create index approvals_run on approval.approvals (run_id, created_at desc, action_id desc) where run_id is not null;
create index approvals_type on approval.approvals (action_type, created_at desc, action_id desc);
create index approvals_requester on approval.approvals (requested_by, created_at desc, action_id desc);
-- The expiry sweep: only pending rows, soonest deadline first.
create index approvals_due on approval.approvals (expires_at) where status = 'pending';

-- One vote per voter per approval: the primary key is what makes a double vote impossible.
create table approval.votes (
  action_id text not null references approval.approvals (action_id),
  voter     text not null,
  approved  boolean not null,
  reason    text,
  at        timestamptz not null,
  primary key (action_id, voter)
);

-- Append-only audit trail. Each row's hash covers the previous row's hash and its own canonical
-- content (computed by the service, see src/audit.ts), so an edited, inserted or removed row
-- breaks the chain.
create table approval.audit_events (
  action_id text not null references approval.approvals (action_id),
  seq       integer not null check (seq >= 1),
  event     text not null,
  actor     text not null,
  reason    text,
  data      jsonb not null default '{}',
  at        timestamptz not null,
  prev_hash text not null,
  hash      text not null,
  primary key (action_id, seq)
);

create function approval.refuse_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: % refused', tg_table_name, tg_op
    using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_append_only before update or delete on approval.audit_events
  for each row execute function approval.refuse_change();
create trigger audit_events_no_truncate before truncate on approval.audit_events
  for each statement execute function approval.refuse_change();
create trigger votes_append_only before update or delete on approval.votes
  for each row execute function approval.refuse_change();

-- Transactional outbox: rows are written with the state change and published by the relay.
create table approval.outbox (
  id           bigserial primary key,
  action_id    text not null,
  kind         text not null check (kind in ('pending', 'decided')),
  subject      text not null,
  payload      jsonb not null,
  created_at   timestamptz not null default now(),
  published_at timestamptz
);

-- At most one pending and one decided event per approval, whatever the code does.
create unique index outbox_once on approval.outbox (action_id, kind);
create index outbox_unpublished on approval.outbox (id) where published_at is null;

-- Wakes the relay (LISTEN approval_outbox) once per inserting statement; it polls as a fallback.
create function approval.notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('approval_outbox', '');
  return null;
end $$;

create trigger outbox_notify after insert on approval.outbox
  for each statement execute function approval.notify_outbox();
