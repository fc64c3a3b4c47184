package countersign.authorize_test

import data.countersign.authorize

# A pending payment that dave requested and that needs a finance approver.
payment := {
	"action_id": "pay-1",
	"action_type": "payment",
	"context": {"amount": 5000},
	"requested_by": "dave",
	"status": "pending",
	"policy": {"outcome": "needs_approval", "approver_roles": ["finance"], "required_approvals": 1},
	"votes": [],
}

pause := {
	"action_id": "pause-1",
	"action_type": "task_pause",
	"context": {"owner": "worker-7"},
	"requested_by": "worker-7",
	"status": "pending",
	"policy": {"outcome": "needs_approval", "approver_roles": [], "required_approvals": 1},
	"votes": [],
}

check(approval, decider) := r if {
	r := authorize.result with input as {"approval": approval, "decider": decider}
}

codes(r) := [x.code | some x in r.reasons]

test_allowed_with_role if {
	check(payment, "frank") == {"allowed": true, "reasons": []}
	check(payment, "alice").allowed
}

test_self_approval if {
	approval := object.union(payment, {"requested_by": "frank"})
	check(approval, "frank") == {
		"allowed": false,
		"reasons": [{"code": "self_approval", "message": "frank requested this action and cannot decide it"}],
	}
}

test_missing_role if {
	check(payment, "bob") == {
		"allowed": false,
		"reasons": [{"code": "missing_role", "message": "\"bob\" holds none of the approver roles finance"}],
	}
	codes(check(payment, "carol")) == ["missing_role"]
	codes(check(payment, "mallory")) == ["missing_role"]
}

test_any_of_the_roles_suffices if {
	approval := object.union(payment, {"policy": {"approver_roles": ["finance", "security"]}})
	check(approval, "erin").allowed
	check(approval, "frank").allowed
	codes(check(approval, "bob")) == ["missing_role"]
}

test_roles_in_the_input_are_not_trusted if {
	approval := object.union(payment, {"context": {"amount": 5000, "roles": {"bob": ["finance"]}}})
	r := authorize.result with input as {"approval": approval, "decider": "bob", "decider_roles": ["finance"], "roles": ["finance"]}
	codes(r) == ["missing_role"]
}

test_already_voted if {
	approval := object.union(payment, {"votes": [{"voter": "frank", "approved": true, "reason": "ok", "at": "2025-01-01T00:00:00Z"}]})
	check(approval, "frank") == {
		"allowed": false,
		"reasons": [{"code": "already_voted", "message": "frank has already voted on this approval"}],
	}
	check(approval, "alice").allowed
}

test_all_failures_reported_sorted if {
	approval := object.union(payment, {
		"requested_by": "bob",
		"votes": [{"voter": "bob", "approved": true, "reason": "", "at": "2025-01-01T00:00:00Z"}],
	})
	codes(check(approval, "bob")) == ["already_voted", "missing_role", "self_approval"]
}

test_no_role_required if {
	approval := object.union(payment, {"policy": {"approver_roles": []}})
	check(approval, "bob").allowed
	check(approval, "mallory").allowed
	codes(check(approval, "dave")) == ["self_approval"]
}

test_missing_policy_fails_closed if {
	r := check(object.remove(payment, ["policy"]), "frank")
	r.reasons == [{
		"code": "missing_role",
		"message": "approval has no policy.approver_roles: cannot check the decider's role",
	}]
	not r.allowed
}

test_approver_roles_not_an_array_fails_closed if {
	approval := object.union(payment, {"policy": {"approver_roles": {"x": "finance"}}})
	codes(check(approval, "frank")) == ["missing_role"]
}

test_non_string_roles_still_checked if {
	approval := object.union(payment, {"policy": {"approver_roles": [7]}})
	r := check(approval, "frank")
	r.reasons == [{"code": "missing_role", "message": "\"frank\" holds none of the approver roles 7"}]
}

test_invalid_decider if {
	every decider in ["", "  ", 42, null] {
		r := check(payment, decider)
		not r.allowed
		"invalid_decider" in codes(r)
	}
	r := authorize.result with input as {"approval": payment}
	codes(r) == ["invalid_decider", "missing_role"]
}

test_missing_approval_fails_closed if {
	r := authorize.result with input as {"decider": "frank"}
	codes(r) == ["missing_role"]
}

# --- task_pause ----------------------------------------------------------------------------

pause_check(approval, decider, owner) := r if {
	r := authorize.result with input as {"approval": approval, "decider": decider, "owner": owner}
}

test_task_pause_owner_match if {
	# The requester resuming its own pause is fine, and no role is needed.
	pause_check(pause, "worker-7", "worker-7") == {"allowed": true, "reasons": []}
	pause_check(pause, "mallory", "worker-7").allowed
}

test_task_pause_owner_mismatch if {
	pause_check(pause, "worker-8", "worker-8") == {
		"allowed": false,
		"reasons": [{
			"code": "owner_mismatch",
			"message": "owner \"worker-8\" does not match the paused task's owner \"worker-7\"",
		}],
	}
}

test_task_pause_missing_owner if {
	r := check(pause, "worker-7")
	r.reasons == [{
		"code": "owner_mismatch",
		"message": "owner (none) does not match the paused task's owner \"worker-7\"",
	}]
}

test_task_pause_without_context_owner if {
	# object.union merges nested objects, so drop context before replacing it.
	approval := object.union(object.remove(pause, ["context"]), {"context": {"note": "no owner"}})
	codes(pause_check(approval, "worker-7", "worker-7")) == ["owner_mismatch"]
	codes(pause_check(object.union(pause, {"context": {"owner": ""}}), "w", "")) == ["owner_mismatch"]
	codes(pause_check(object.remove(pause, ["context"]), "w", "worker-7")) == ["owner_mismatch"]
}

test_task_pause_ignores_approver_roles if {
	approval := object.union(pause, {"policy": {"approver_roles": ["finance"]}})
	pause_check(approval, "bob", "worker-7").allowed
}

test_task_pause_already_voted if {
	approval := object.union(pause, {"votes": [{"voter": "worker-7", "approved": true, "reason": "", "at": "2025-01-01T00:00:00Z"}]})
	codes(pause_check(approval, "worker-7", "worker-7")) == ["already_voted"]
}

test_task_pause_action_type_case_insensitive if {
	approval := object.union(pause, {"action_type": "Task_Pause"})
	pause_check(approval, "worker-7", "worker-7").allowed
}
