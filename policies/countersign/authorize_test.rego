package countersign.authorize_test

import data.countersign.authorize

# The sample directory (deploy/directory.yaml), as the policy service supplies it. dave, eve and
# billing-job are known without roles; mallory is unknown.
directory := {
	"alice": ["finance", "ops"],
	"bob": ["ops"],
	"carol": ["admin"],
	"dave": [],
	"erin": ["security"],
	"eve": [],
	"frank": ["finance"],
	"grace": ["ops", "security"],
	"billing-job": [],
	"agent-7": [],
}

# A pending payment that billing-job requested and that needs a finance approver.
payment := {
	"action_id": "pay-1",
	"action_type": "payment",
	"context": {"amount": 5000},
	"requested_by": "billing-job",
	"status": "pending",
	"policy": {"outcome": "needs_approval", "approver_roles": ["finance"], "required_approvals": 1},
	"votes": [],
}

# A paused task owned by agent-7, which requested it.
pause := {
	"action_id": "pause-1",
	"action_type": "task_pause",
	"context": {},
	"requested_by": "agent-7",
	"status": "pending",
	"policy": {"outcome": "needs_approval", "approver_roles": [], "required_approvals": 1},
	"votes": [],
}

ask(action, approval, actor) := r if {
	r := authorize.result with input as {"action": action, "approval": approval, "actor": actor}
		with data.directory as directory
}

check(approval, actor) := ask("decide", approval, actor)

codes(r) := [x.code | some x in r.reasons]

allowed := {"allowed": true, "reasons": []}

# --- any action ------------------------------------------------------------------------------

test_unknown_identity_refused_for_every_action if {
	every action in ["decide", "resume", "cancel", "report"] {
		r := ask(action, payment, "mallory")
		not r.allowed
		"unknown_identity" in codes(r)
	}
	r := ask("report", object.union(payment, {"requested_by": "mallory"}), "mallory")
	r.reasons == [{"code": "unknown_identity", "message": "\"mallory\" is not in the directory"}]
}

test_no_directory_knows_nobody if {
	r := authorize.result with input as {"action": "decide", "approval": payment, "actor": "frank"}
		with data.directory as {}
	codes(r) == ["missing_role", "unknown_identity"]
}

test_identity_required if {
	every actor in ["", "  ", 42, null] {
		r := ask("cancel", payment, actor)
		not r.allowed
		"identity_required" in codes(r)
	}
	r := authorize.result with input as {"action": "report", "approval": payment}
		with data.directory as directory
	codes(r) == ["identity_required", "not_requester"]
}

test_invalid_action if {
	every action in ["", "approve", "DECIDE", 7, null] {
		r := ask(action, payment, "frank")
		codes(r) == ["invalid_action"]
	}
	r := authorize.result with input as {"approval": payment, "actor": "frank"}
		with data.directory as directory
	r.reasons == [{"code": "invalid_action", "message": "action (none) is not one of cancel, decide, extend, report, resume"}]
}

test_missing_approval_fails_closed if {
	every action in ["decide", "resume", "cancel", "report"] {
		r := authorize.result with input as {"action": action, "actor": "frank"}
			with data.directory as directory
		not r.allowed
	}
}

test_roles_in_the_input_are_not_trusted if {
	approval := object.union(payment, {"context": {"amount": 5000, "roles": {"bob": ["finance"]}}})
	r := authorize.result with input as {
		"action": "decide", "approval": approval, "actor": "bob",
		"actor_roles": ["finance"], "roles": ["finance"], "directory": {"bob": ["finance"]},
	}
		with data.directory as directory
	codes(r) == ["missing_role"]
}

# --- decide ----------------------------------------------------------------------------------

test_decide_allowed_with_role if {
	check(payment, "frank") == allowed
	check(payment, "alice").allowed
}

test_decide_self_approval if {
	approval := object.union(payment, {"requested_by": "frank"})
	check(approval, "frank") == {
		"allowed": false,
		"reasons": [{"code": "self_approval", "message": "frank requested this action and cannot decide it"}],
	}
}

test_decide_missing_role if {
	check(payment, "bob") == {
		"allowed": false,
		"reasons": [{"code": "missing_role", "message": "\"bob\" holds none of the approver roles finance"}],
	}
	codes(check(payment, "carol")) == ["missing_role"]
	codes(check(payment, "mallory")) == ["missing_role", "unknown_identity"]
}

test_decide_any_of_the_roles_suffices if {
	approval := object.union(payment, {"policy": {"approver_roles": ["finance", "security"]}})
	check(approval, "erin").allowed
	check(approval, "frank").allowed
	codes(check(approval, "bob")) == ["missing_role"]
}

test_decide_roles_follow_the_directory if {
	r := authorize.result with input as {"action": "decide", "approval": payment, "actor": "bob"}
		with data.directory as object.union(directory, {"bob": ["ops", "finance"]})
	r == allowed
	s := authorize.result with input as {"action": "decide", "approval": payment, "actor": "frank"}
		with data.directory as object.union(directory, {"frank": []})
	codes(s) == ["missing_role"]
}

test_decide_already_voted if {
	approval := object.union(payment, {"votes": [{"voter": "frank", "approved": true, "reason": "ok", "at": "2025-01-01T00:00:00Z"}]})
	check(approval, "frank") == {
		"allowed": false,
		"reasons": [{"code": "already_voted", "message": "frank has already voted on this approval"}],
	}
	check(approval, "alice").allowed
}

test_decide_all_failures_reported_sorted if {
	approval := object.union(payment, {
		"requested_by": "bob",
		"votes": [{"voter": "bob", "approved": true, "reason": "", "at": "2025-01-01T00:00:00Z"}],
	})
	codes(check(approval, "bob")) == ["already_voted", "missing_role", "self_approval"]
}

# An approval naming no approver roles is decided only by operators (operator_roles), never by
# anyone who happens to be in the directory.
test_decide_no_approver_roles_only_operators if {
	approval := object.union(payment, {"policy": {"approver_roles": []}})
	check(approval, "carol") == allowed
	check(approval, "bob") == {
		"allowed": false,
		"reasons": [{
			"code": "no_approver_roles",
			"message": "approval names no approver roles: only an operator (admin) may decide it, not \"bob\"",
		}],
	}
	every who in ["alice", "dave", "erin", "frank", "grace"] {
		codes(check(approval, who)) == ["no_approver_roles"]
	}
	codes(check(approval, "mallory")) == ["no_approver_roles", "unknown_identity"]
	codes(check(approval, "billing-job")) == ["no_approver_roles", "self_approval"]
}

test_decide_no_approver_roles_requester_operator_still_refused if {
	approval := object.union(payment, {"requested_by": "carol", "policy": {"approver_roles": []}})
	codes(check(approval, "carol")) == ["self_approval"]
}

test_decide_no_approver_roles_operator_roles_from_data if {
	approval := object.union(payment, {"policy": {"approver_roles": []}})
	r := authorize.result with input as {"action": "decide", "approval": approval, "actor": "bob"}
		with data.directory as directory
		with data.countersign.operator_roles as ["ops"]
	r == allowed
	s := authorize.result with input as {"action": "decide", "approval": approval, "actor": "carol"}
		with data.directory as directory
		with data.countersign.operator_roles as ["ops"]
	codes(s) == ["no_approver_roles"]
}

test_decide_missing_policy_fails_closed if {
	r := check(object.remove(payment, ["policy"]), "frank")
	r.reasons == [{
		"code": "missing_role",
		"message": "approval has no policy.approver_roles: cannot check the decider's role",
	}]
	not r.allowed
}

test_decide_approver_roles_not_an_array_fails_closed if {
	approval := object.union(payment, {"policy": {"approver_roles": {"x": "finance"}}})
	codes(check(approval, "frank")) == ["missing_role"]
}

test_decide_non_string_roles_still_checked if {
	approval := object.union(payment, {"policy": {"approver_roles": [7]}})
	r := check(approval, "frank")
	r.reasons == [{"code": "missing_role", "message": "\"frank\" holds none of the approver roles 7"}]
}

test_decide_a_pause_is_resumed_not_decided if {
	r := check(pause, "agent-7")
	r.reasons == [{"code": "use_resume", "message": "a paused task is not decided: its owner resumes it (action resume)"}]
	codes(check(object.union(pause, {"action_type": "Task_Pause"}), "frank")) == ["use_resume"]
}

# --- resume ----------------------------------------------------------------------------------

test_resume_by_the_owner if {
	ask("resume", pause, "agent-7") == allowed
	ask("resume", object.union(pause, {"action_type": "TASK_PAUSE"}), "agent-7") == allowed
}

test_resume_by_anyone_else_refused if {
	ask("resume", pause, "bob") == {
		"allowed": false,
		"reasons": [{
			"code": "not_owner",
			"message": "\"bob\" does not own this paused task: only its owner \"agent-7\" resumes it",
		}],
	}

	# Roles do not help, and the context's old owner field is not believed.
	with_roles := object.union(pause, {"policy": {"approver_roles": ["ops"]}, "context": {"owner": "bob"}})
	codes(ask("resume", with_roles, "bob")) == ["not_owner"]
	codes(ask("resume", pause, "carol")) == ["not_owner"]
}

test_resume_only_a_pause if {
	r := ask("resume", payment, "billing-job")
	r.reasons == [{
		"code": "not_paused_task",
		"message": "only a task_pause is resumed; this approval is \"payment\" (action decide)",
	}]
}

test_resume_once if {
	approval := object.union(pause, {"votes": [{"voter": "agent-7", "approved": true, "reason": "", "at": "2025-01-01T00:00:00Z"}]})
	codes(ask("resume", approval, "agent-7")) == ["already_voted"]
}

test_resume_without_requester_fails_closed if {
	r := ask("resume", object.remove(pause, ["requested_by"]), "agent-7")
	r.reasons == [{
		"code": "not_owner",
		"message": "\"agent-7\" does not own this paused task: only its owner (none) resumes it",
	}]
}

# --- cancel ----------------------------------------------------------------------------------

test_cancel_by_the_requester if {
	ask("cancel", payment, "billing-job") == allowed
	ask("cancel", pause, "agent-7") == allowed
}

test_cancel_by_an_eligible_approver if {
	ask("cancel", payment, "frank") == allowed
	ask("cancel", payment, "alice") == allowed
}

test_cancel_by_an_operator if {
	ask("cancel", payment, "carol") == allowed
	ask("cancel", pause, "carol") == allowed
}

test_cancel_operator_roles_come_from_data if {
	r := authorize.result with input as {"action": "cancel", "approval": payment, "actor": "bob"}
		with data.directory as directory
		with data.countersign.operator_roles as ["sre"]
	codes(r) == ["not_allowed_to_cancel"]
}

test_cancel_by_anyone_else_refused if {
	ask("cancel", payment, "dave") == {
		"allowed": false,
		"reasons": [{
			"code": "not_allowed_to_cancel",
			"message": "\"dave\" is neither the requester, an eligible approver nor an operator (admin)",
		}],
	}

	# bob holds ops, the deploy approvers' role: not an operator, not a payment approver
	codes(ask("cancel", payment, "bob")) == ["not_allowed_to_cancel"]
	codes(ask("cancel", payment, "erin")) == ["not_allowed_to_cancel"]
	codes(ask("cancel", payment, "mallory")) == ["not_allowed_to_cancel", "unknown_identity"]
}

test_cancel_no_role_means_no_eligible_approver if {
	# "Anyone may decide" must not become "anyone may cancel".
	codes(ask("cancel", pause, "frank")) == ["not_allowed_to_cancel"]
	open := object.union(payment, {"policy": {"approver_roles": []}})
	codes(ask("cancel", open, "dave")) == ["not_allowed_to_cancel"]
	codes(ask("cancel", object.remove(payment, ["policy"]), "dave")) == ["not_allowed_to_cancel"]
}

# --- report ----------------------------------------------------------------------------------

test_report_by_the_requester if {
	ask("report", payment, "billing-job") == allowed
}

test_report_by_anyone_else_refused if {
	ask("report", payment, "frank") == {
		"allowed": false,
		"reasons": [{
			"code": "not_requester",
			"message": "\"frank\" did not request this action: only \"billing-job\" reports its execution",
		}],
	}
	codes(ask("report", payment, "bob")) == ["not_requester"]
	codes(ask("report", payment, "carol")) == ["not_requester"]
}

# --- delegation: who could claim to vote as someone else? --------------------------------------

as_delegate(approval, actor, on_behalf_of, delegations) := r if {
	r := authorize.result with input as {
		"action": "decide", "approval": approval, "actor": actor,
		"on_behalf_of": on_behalf_of, "delegations": delegations,
	}
		with data.directory as directory
}

frank_to_eve := [{"delegator": "frank", "role": null}]

test_delegate_votes_with_the_delegators_roles if {
	as_delegate(payment, "eve", "frank", frank_to_eve) == allowed
	as_delegate(payment, "eve", "frank", [{"delegator": "frank", "role": "finance"}]) == allowed
}

test_no_delegation_no_vote if {
	codes(as_delegate(payment, "eve", "frank", [])) == ["missing_role", "not_delegated"]
	codes(as_delegate(payment, "eve", "frank", null)) == ["missing_role", "not_delegated"]

	# a grant from someone else does not count for frank
	codes(as_delegate(payment, "eve", "frank", [{"delegator": "alice", "role": null}])) == ["missing_role", "not_delegated"]

	# malformed grants refuse
	codes(as_delegate(payment, "eve", "frank", ["frank", 7])) == ["missing_role", "not_delegated"]
}

test_a_role_scoped_delegation_passes_only_that_role if {
	# alice delegates ops only: her finance role does not come with it
	r := as_delegate(payment, "eve", "alice", [{"delegator": "alice", "role": "ops"}])
	codes(r) == ["missing_role"]

	# a role the delegator does not hold (any more) gives nothing
	codes(as_delegate(payment, "eve", "bob", [{"delegator": "bob", "role": "finance"}])) == ["missing_role"]
}

test_the_requester_never_approves_through_a_delegate if {
	# frank requested: his delegate eve may not approve it for him
	by_frank := object.union(payment, {"requested_by": "frank"})
	codes(as_delegate(by_frank, "eve", "frank", frank_to_eve)) == ["self_approval"]

	# eve requested: she may not approve it as frank's delegate either
	by_eve := object.union(payment, {"requested_by": "eve"})
	codes(as_delegate(by_eve, "eve", "frank", frank_to_eve)) == ["self_approval"]
}

test_no_chains if {
	# frank -> eve, then eve -> dave: dave votes with eve's own roles (none), never frank's
	codes(as_delegate(payment, "dave", "eve", [{"delegator": "eve", "role": null}])) == ["missing_role"]

	# and grants for frank handed in under dave's name do not count
	codes(as_delegate(payment, "dave", "frank", [{"delegator": "eve", "role": null}])) == ["missing_role", "not_delegated"]
}

test_one_vote_per_person_whoever_casts_it if {
	frank_voted := object.union(payment, {"votes": [{"voter": "frank", "approved": true}]})
	codes(as_delegate(frank_voted, "eve", "frank", frank_to_eve)) == ["already_voted"]
	eve_voted_for_frank := object.union(payment, {"votes": [{"voter": "eve", "approved": true, "on_behalf_of": "frank"}]})
	codes(check(eve_voted_for_frank, "frank")) == ["already_voted"]
	codes(as_delegate(eve_voted_for_frank, "eve", "frank", frank_to_eve)) == ["already_voted"]

	# eve voted for frank: she cannot vote for alice as well on the same approval
	codes(as_delegate(eve_voted_for_frank, "eve", "alice", [{"delegator": "alice", "role": null}])) == ["already_voted"]

	# a plain vote by someone else does not count against frank
	alice_voted := object.union(payment, {"votes": [{"voter": "alice", "approved": true, "on_behalf_of": null}]})
	as_delegate(alice_voted, "eve", "frank", frank_to_eve) == allowed
}

test_delegation_is_for_votes_only if {
	every action in ["cancel", "report", "resume"] {
		r := authorize.result with input as {
			"action": action, "approval": payment, "actor": "eve",
			"on_behalf_of": "frank", "delegations": frank_to_eve,
		}
			with data.directory as directory
		"delegation_only_for_votes" in codes(r)
	}
}

test_unknown_or_self_delegator if {
	"unknown_identity" in codes(as_delegate(payment, "eve", "mallory", [{"delegator": "mallory", "role": null}]))
	codes(as_delegate(payment, "frank", "frank", frank_to_eve)) == ["delegate_is_self"]
}

test_delegated_operator_decides_an_approval_naming_no_role if {
	open := object.union(payment, {"policy": {"outcome": "needs_approval", "approver_roles": [], "required_approvals": 1}})
	as_delegate(open, "eve", "carol", [{"delegator": "carol", "role": null}]) == allowed
	codes(as_delegate(open, "eve", "frank", frank_to_eve)) == ["no_approver_roles"]
}

test_refusal_message_names_whose_roles_count if {
	r := as_delegate(payment, "dave", "eve", [{"delegator": "eve", "role": null}])
	r.reasons == [{"code": "missing_role", "message": "\"eve\" (for whom \"dave\" votes) holds none of the approver roles finance"}]
}

# --- escalation ---------------------------------------------------------------------------------

escalated(roles, people) := object.union(payment, {"escalation": {"at": "2026-01-01T00:00:00Z", "roles": roles, "people": people}})

test_escalation_adds_roles_and_people if {
	# bob (ops) may not decide a finance payment until it escalates to ops
	codes(check(payment, "bob")) == ["missing_role"]
	check(escalated(["ops"], []), "bob") == allowed
	codes(check(escalated(["admin"], []), "bob")) == ["missing_role"]

	# a person named by the escalation decides without the role
	check(escalated([], ["eve"]), "eve") == allowed
	codes(check(escalated([], ["eve"]), "dave")) == ["missing_role"]

	# the original approvers still decide
	check(escalated(["ops"], []), "frank") == allowed
}

test_escalation_never_lets_the_requester_decide if {
	codes(check(escalated([], ["billing-job"]), "billing-job")) == ["self_approval"]
}

test_malformed_escalation_adds_nobody if {
	bad := object.union(payment, {"escalation": {"roles": "ops", "people": "eve"}})
	codes(check(bad, "bob")) == ["missing_role"]
	codes(check(bad, "eve")) == ["missing_role"]
}

test_escalation_to_people_on_an_approval_naming_no_role if {
	open := object.union(
		payment,
		{
			"policy": {"outcome": "needs_approval", "approver_roles": [], "required_approvals": 1},
			"escalation": {"roles": [], "people": ["eve"]},
		},
	)
	check(open, "eve") == allowed
}

# --- extend --------------------------------------------------------------------------------------

extendable := object.union(payment, {"policy": {"outcome": "needs_approval", "approver_roles": ["finance"], "required_approvals": 1, "max_extension_seconds": 3600}})

extend(approval, actor, seconds) := r if {
	r := authorize.result with input as {"action": "extend", "approval": approval, "actor": actor, "extend_seconds": seconds}
		with data.directory as directory
}

test_an_approver_extends_once_within_the_limit if {
	extend(extendable, "frank", 3600) == allowed
	codes(extend(extendable, "frank", 3601)) == ["extension_too_long"]
	codes(extend(object.union(extendable, {"extension": {"by": "alice", "seconds": 60}}), "frank", 60)) == ["already_extended"]
	codes(extend(payment, "frank", 60)) == ["no_extension"]
}

test_only_approvers_extend if {
	codes(extend(extendable, "bob", 60)) == ["missing_role"]
	codes(extend(object.union(extendable, {"requested_by": "frank"}), "frank", 60)) == ["self_approval"]
	extend(extendable, "carol", 60) == allowed
	extend(object.union(extendable, {"escalation": {"roles": ["ops"], "people": []}}), "bob", 60) == allowed

	# a record without approver_roles refuses (fail closed)
	bare := {"action_id": "pay-1", "action_type": "payment", "requested_by": "billing-job", "policy": {"max_extension_seconds": 3600}, "votes": []}
	codes(extend(bare, "frank", 60)) == ["missing_role"]
}

test_extend_without_seconds_refuses if {
	r := authorize.result with input as {"action": "extend", "approval": extendable, "actor": "frank"}
		with data.directory as directory
	codes(r) == ["extension_too_long"]
	codes(extend(extendable, "frank", 0)) == ["extension_too_long"]
	codes(extend(extendable, "frank", "60")) == ["extension_too_long"]
}

# --- directory changes -----------------------------------------------------------------------

# bob asks to give dave the finance role and grace the admin role.
directory_change := {
	"action_id": "directory-1",
	"action_type": "directory_change",
	"context": {"revision": "sha256:abc", "diff": {"roles_granted": [
		{"identity": "dave", "role": "finance"},
		{"identity": "grace", "role": "admin"},
	]}},
	"requested_by": "bob",
	"status": "pending",
	"policy": {"outcome": "needs_approval", "approver_roles": ["ops", "security"], "required_approvals": 2},
	"votes": [],
}

test_directory_change_decided_by_ops_or_security if {
	check(directory_change, "alice") == allowed
	check(directory_change, "erin") == allowed
	codes(check(directory_change, "frank")) == ["missing_role"]
}

test_directory_change_requester_refused if {
	codes(check(directory_change, "bob")) == ["self_approval"]
}

test_directory_change_grantee_refused if {
	r := check(directory_change, "grace")
	codes(r) == ["role_grantee"]
	r.reasons[0].message == "\"grace\" gains a role in this directory change and cannot decide it"
}

test_directory_change_grantee_refused_through_a_delegate if {
	r := authorize.result with input as {
		"action": "decide", "approval": directory_change, "actor": "alice",
		"on_behalf_of": "grace", "delegations": [{"delegator": "grace", "role": null}],
	}
		with data.directory as directory
	"role_grantee" in codes(r)
}

test_directory_change_without_a_grant_list_refused if {
	bare := object.remove(directory_change, ["context"])
	approval := object.union(bare, {"context": {"revision": "sha256:abc", "diff": {}}})
	codes(check(approval, "alice")) == ["role_grantee"]
	other := object.union(bare, {"context": {"revision": "sha256:abc"}})
	codes(check(other, "erin")) == ["role_grantee"]
}

test_grants_matter_only_for_directory_changes if {
	approval := object.union(payment, {"context": {"amount": 5000, "diff": {"roles_granted": [{"identity": "frank", "role": "x"}]}}})
	check(approval, "frank") == allowed
}
