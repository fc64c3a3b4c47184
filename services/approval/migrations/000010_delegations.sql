-- expand: new tables and a nullable vote column; older versions never cast a vote as a delegate.
-- Delegation: a person hands their approvals (all, or those needing one role) to another person
-- for a period. Votes cast as a delegate record whose vote they are (on_behalf_of).

create table approval.delegations (
  id          uuid primary key,
  delegator   text not null,
  delegate    text not null,
  -- null: every approval the delegator may decide; otherwise one of the delegator's roles.
  role        text,
  starts_at   timestamptz not null,
  ends_at     timestamptz not null,
  created_at  timestamptz not null,
  revoked_at  timestamptz,
  revoked_by  text,
  constraint delegation_to_someone_else check (delegator <> delegate),
  constraint delegation_period check (ends_at > starts_at),
  constraint revocation_complete check ((revoked_at is null) = (revoked_by is null))
);

-- What a vote as a delegate looks up: the delegations from one person to another.
create index delegations_pair on approval.delegations (delegate, delegator, ends_at);
create index delegations_delegator on approval.delegations (delegator, created_at desc);

-- A delegation's terms never change; it may only be revoked, once.
create function approval.guard_delegation_update() returns trigger language plpgsql as $$
begin
  if old.revoked_at is not null then
    raise exception 'delegation % is revoked and can never change again', old.id
      using errcode = 'integrity_constraint_violation';
  end if;
  if (new.id, new.delegator, new.delegate, new.role, new.starts_at, new.ends_at, new.created_at)
     is distinct from
     (old.id, old.delegator, old.delegate, old.role, old.starts_at, old.ends_at, old.created_at) then
    raise exception 'delegation % may only be revoked', old.id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

create trigger delegations_guard before update on approval.delegations
  for each row execute function approval.guard_delegation_update();
create trigger delegations_no_delete before delete on approval.delegations
  for each row execute function approval.refuse_change();

-- Every change to a delegation, append-only: who delegated or revoked what, and when.
create table approval.delegation_events (
  seq           bigserial primary key,
  delegation_id uuid not null references approval.delegations (id),
  event         text not null check (event in ('delegated', 'revoked')),
  actor         text not null,
  data          jsonb not null default '{}',
  at            timestamptz not null
);
create index delegation_events_of on approval.delegation_events (delegation_id, seq);

create trigger delegation_events_append_only before update or delete on approval.delegation_events
  for each row execute function approval.refuse_change();
create trigger delegation_events_no_truncate before truncate on approval.delegation_events
  for each statement execute function approval.refuse_change();

-- A vote cast as a delegate; one vote per represented person per approval, whoever casts it.
alter table approval.votes add column on_behalf_of text;
create unique index votes_on_behalf_once on approval.votes (action_id, on_behalf_of)
  where on_behalf_of is not null;
