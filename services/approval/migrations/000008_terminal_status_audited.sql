-- A terminal status needs its audit event: an approval written or updated as approved,
-- rejected, expired or cancelled must have an audit event of that name by the time its
-- transaction commits. Deferred, because the lifecycle writes the status before the events (and
-- the intake writes both in one statement). Only the status, never the chain's validity: a
-- forged event satisfies it, and verify-audit finds that one by its key.
create function approval.check_terminal_audited() returns trigger language plpgsql as $$
begin
  -- The primary key index (action_id, seq) finds the approval's few events.
  if not exists (
    select 1 from approval.audit_events e where e.action_id = new.action_id and e.event = new.status
  ) then
    raise exception 'approval % is % without an audit event %', new.action_id, new.status, new.status
      using errcode = 'integrity_constraint_violation';
  end if;
  return null;
end $$;

create constraint trigger approvals_terminal_audited
  after insert or update of status on approval.approvals
  deferrable initially deferred
  for each row when (new.status <> 'pending')
  execute function approval.check_terminal_audited();
