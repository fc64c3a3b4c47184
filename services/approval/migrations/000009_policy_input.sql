-- expand: a nullable column older code never writes, and a trigger that only guards that column.
-- The exact request each approval's policy decision was made on, so a candidate policy can be
-- replayed against real history (`pnpm policy replay`, approval.policy_inputs). The other
-- columns lose what the request said but the approval does not keep (its own timeout_seconds).
-- Null for approvals recorded before this column existed (a replay rebuilds their request from
-- the columns) and for requests refused before any evaluation.
alter table approval.approvals add column policy_input jsonb;

-- Like the request's other columns, it never changes once written: a replay must see what the
-- policy saw.
create function approval.guard_policy_input() returns trigger language plpgsql as $$
begin
  if new.policy_input is distinct from old.policy_input then
    raise exception 'approval % may not change the policy input it was decided on', old.action_id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;

create trigger approvals_policy_input_fixed before update on approval.approvals
  for each row execute function approval.guard_policy_input();
