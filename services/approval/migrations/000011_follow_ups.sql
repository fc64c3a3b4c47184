-- Not expand: an older relay would publish the new reminder and escalated outbox rows as decided
-- events. Upgrade every approval replica before the sweep of a new one writes them.
-- Reminders and escalation, decided by the policy (policy.remind_after_seconds,
-- escalate_after_seconds, escalate_to, escalation_extends_seconds): due times the follow-up sweep
-- reads (SKIP LOCKED, like expiry), the escalation an approval records, and the events they emit.

alter table approval.approvals
  add column next_reminder_at timestamptz,
  add column reminders_sent   integer not null default 0 check (reminders_sent >= 0),
  add column escalate_at      timestamptz,
  -- {at, roles, people}: who the approval escalated to (the authorize policy honours it).
  add column escalation       jsonb,
  -- {by, seconds, at}: the one extension of the deadline an approver made.
  add column extension        jsonb;

-- The first due times come from the policy the approval was recorded with, whatever code
-- inserted it.
create function approval.schedule_follow_ups() returns trigger language plpgsql as $$
begin
  if new.status = 'pending' then
    if jsonb_typeof(new.policy->'remind_after_seconds') = 'number' then
      new.next_reminder_at := new.created_at + make_interval(secs => (new.policy->>'remind_after_seconds')::int);
    end if;
    if jsonb_typeof(new.policy->'escalate_after_seconds') = 'number' then
      new.escalate_at := new.created_at + make_interval(secs => (new.policy->>'escalate_after_seconds')::int);
    end if;
  end if;
  return new;
end $$;

create trigger approvals_schedule_follow_ups before insert on approval.approvals
  for each row execute function approval.schedule_follow_ups();

create index approvals_remind_due on approval.approvals (next_reminder_at)
  where status = 'pending' and next_reminder_at is not null;
create index approvals_escalate_due on approval.approvals (escalate_at)
  where status = 'pending' and escalate_at is not null;

-- A pending approval may now have its deadline moved later (escalation), never earlier; its
-- request still never changes and a terminal approval still never changes at all.
create or replace function approval.guard_approval_update() returns trigger language plpgsql as $$
begin
  if old.status <> 'pending' then
    raise exception 'approval % is % and can never change again', old.action_id, old.status
      using errcode = 'integrity_constraint_violation';
  end if;
  if (new.action_id, new.action_type, new.description, new.context, new.requested_by, new.run_id,
      new.request_hash, new.policy, new.required_approvals, new.created_at)
     is distinct from
     (old.action_id, old.action_type, old.description, old.context, old.requested_by, old.run_id,
      old.request_hash, old.policy, old.required_approvals, old.created_at) then
    raise exception 'approval % may only change its status, decision and follow-ups', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  if new.expires_at < old.expires_at then
    raise exception 'approval % may not have its deadline moved earlier', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  if old.escalation is not null and new.escalation is distinct from old.escalation then
    raise exception 'approval % escalated already', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  if old.extension is not null and new.extension is distinct from old.extension then
    raise exception 'approval % had its deadline extended already', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

-- The outbox carries reminders (one per interval, each its own event id) and the escalation.
alter table approval.outbox drop constraint outbox_kind_check;
alter table approval.outbox add constraint outbox_kind_check
  check (kind in ('pending', 'decided', 'reminder', 'escalated'));
alter table approval.outbox add column event_id text;
drop index approval.outbox_once;
create unique index outbox_once on approval.outbox (action_id, kind) where kind <> 'reminder';
create unique index outbox_event_once on approval.outbox (event_id) where event_id is not null;
