# Who may act on an approval: decide it, resume a paused task, cancel it, report its execution.
#
# Input: {"action": "decide"|"resume"|"cancel"|"report", "approval": <Approval record>,
# "actor": string, "on_behalf_of"?: string, "delegations"?: [{delegator, role}]}. The actor is
# the identity the caller's credential proves (the approval service binds it; nothing in the
# input is believed about roles or ownership). on_behalf_of asks to vote as that person's
# delegate; delegations are the ones from them to the actor in force now (the service's table).
# Entrypoint: countersign/authorize/result -> {"allowed": bool, "reasons": [{code, message}]}.
# allowed is true exactly when reasons is empty, so every check below is a refusal and anything
# missing or malformed refuses (fail closed). Roles come only from data.directory.
package countersign.authorize

import data.countersign.lib

actions := {"decide", "resume", "cancel", "report", "extend"}

approval := input.approval if is_object(input.approval)

else := {}

# "" when missing or not a string: identity_required then refuses.
actor := input.actor if is_string(input.actor)

else := ""

action := input.action if is_string(input.action)

else := ""

action_type := lib.normalize_action_type(approval.action_type)

is_pause if action_type == "task_pause"

actor_roles := lib.roles_of(actor)

# --- delegation --------------------------------------------------------------------------------
# A delegate votes with the delegator's own directory roles (all of them, or the one role a
# delegation names), never their own and never roles the delegator holds by delegation: chains
# are impossible because grants are only ever read for the person named in on_behalf_of.

on_behalf_of := input.on_behalf_of if is_string(input.on_behalf_of)

else := ""

delegated if on_behalf_of != ""

grants := [g |
	delegated
	is_array(input.delegations)
	some g in input.delegations
	is_object(g)
	g.delegator == on_behalf_of
]

delegated_roles := lib.roles_of(on_behalf_of) if {
	some g in grants
	g.role == null
} else := {r | some g in grants; is_string(g.role); r := g.role} & lib.roles_of(on_behalf_of)

# Whose vote it is, and the roles it is cast with.
principal := on_behalf_of if delegated

else := actor

decider_roles := delegated_roles if delegated

else := actor_roles

has_actor if trim_space(actor) != ""

# The requester is the identity the approval service bound at intake; a paused task's owner is
# its requester.
is_requester if {
	has_actor
	actor == approval.requested_by
}

# The approval's approver roles as a set; undefined when the record carries no array. An
# escalated approval (the approval service records `escalation` when the policy's
# escalate_after passed) adds the roles it escalated to.
approver_roles := {r | some r in approval.policy.approver_roles} | escalated_roles if {
	is_array(object.get(approval, ["policy", "approver_roles"], null))
}

escalated_roles := {r | some r in approval.escalation.roles; is_string(r)} if {
	is_array(object.get(approval, ["escalation", "roles"], null))
} else := set()

# People the approval escalated to decide it whatever their roles (never the requester: the
# self_approval refusal holds for them like for everyone).
escalated_person if {
	is_array(object.get(approval, ["escalation", "people"], null))
	principal in approval.escalation.people
}

# --- any action ----------------------------------------------------------------------------

denial contains {"code": "invalid_action", "message": msg} if {
	not action in actions
	msg := concat("", [
		"action ", label(object.get(input, "action", null)),
		" is not one of ", concat(", ", sort(actions)),
	])
}

denial contains {"code": "identity_required", "message": "actor must be a non-empty identity"} if {
	not has_actor
}

denial contains {"code": "unknown_identity", "message": msg} if {
	has_actor
	not lib.known(actor)
	msg := concat("", [label(actor), " is not in the directory"])
}

# --- decide ----------------------------------------------------------------------------------

denial contains {"code": "delegation_only_for_votes", "message": msg} if {
	delegated
	action != "decide"
	msg := concat("", ["only a vote may be cast on behalf of someone; ", label(action), " may not"])
}

denial contains {"code": "unknown_identity", "message": msg} if {
	delegated
	not lib.known(on_behalf_of)
	msg := concat("", [label(on_behalf_of), " (on_behalf_of) is not in the directory"])
}

denial contains {"code": "not_delegated", "message": msg} if {
	delegated
	count(grants) == 0
	msg := concat("", [label(actor), " holds no delegation from ", label(on_behalf_of), " in force"])
}

# The requester can never approve through a delegate: not by delegating, not by being one.
denial contains {"code": "self_approval", "message": msg} if {
	action == "decide"
	delegated
	on_behalf_of == approval.requested_by
	msg := concat("", [on_behalf_of, " requested this action and cannot decide it through a delegate"])
}

denial contains {"code": "delegate_is_self", "message": msg} if {
	delegated
	on_behalf_of == actor
	msg := concat("", [actor, " cannot vote on their own behalf as a delegate"])
}

denial contains {"code": "use_resume", "message": msg} if {
	action == "decide"
	is_pause
	msg := "a paused task is not decided: its owner resumes it (action resume)"
}

denial contains {"code": "self_approval", "message": msg} if {
	action == "decide"
	not is_pause
	is_requester
	msg := concat("", [actor, " requested this action and cannot decide it"])
}

# A directory change grants roles: nobody it grants one decides it (for themselves or as a
# delegate), or one person could file a change making them finance and approve it as ops. The
# grants come from the change's context (context.diff.roles_granted, checked again against the
# directory itself when the change is activated); a change whose context does not list them
# cannot be decided at all.
is_directory_change if action_type == "directory_change"

grantees := {g.identity |
	some g in approval.context.diff.roles_granted
	is_object(g)
	is_string(g.identity)
}

denial contains {"code": "role_grantee", "message": msg} if {
	action == "decide"
	is_directory_change
	some who in {actor, principal}
	who in grantees
	msg := concat("", [label(who), " gains a role in this directory change and cannot decide it"])
}

denial contains {"code": "role_grantee", "message": msg} if {
	action == "decide"
	is_directory_change
	not is_array(object.get(approval, ["context", "diff", "roles_granted"], null))
	msg := "this directory change lists no roles_granted: cannot tell who gains a role"
}

# Fail closed: a record whose policy carries no approver_roles array requires a role nobody
# can prove, rather than none.
denial contains {"code": "missing_role", "message": msg} if {
	action == "decide"
	not is_pause
	not approver_roles
	msg := "approval has no policy.approver_roles: cannot check the decider's role"
}

denial contains {"code": "missing_role", "message": msg} if {
	action == "decide"
	not is_pause
	count(approver_roles) > 0
	count(decider_roles & approver_roles) == 0
	not escalated_person
	msg := concat("", [
		label(principal), delegation_note, " holds none of the approver roles ",
		concat(", ", sort([lib.text(r) | some r in approver_roles])),
	])
}

# Fail closed: an approval asking for no role (an empty approver_roles, from an older policy or
# a data edit) is not open to everyone; only operators (operator_roles) may decide it.
denial contains {"code": "no_approver_roles", "message": msg} if {
	action == "decide"
	not is_pause
	count(approver_roles) == 0
	not decider_is_operator
	not escalated_person
	msg := concat("", [
		"approval names no approver roles: only an operator (",
		concat(", ", sort([lib.text(r) | some r in lib.operator_roles])), ") may decide it, not ",
		label(actor),
	])
}

# A resume is the owner's vote on its pause: one each, like a decision. A person's vote counts
# once, cast by them or by a delegate for them, and a delegate casts one vote per approval.
denial contains {"code": "already_voted", "message": msg} if {
	action in {"decide", "resume"}
	has_actor
	some vote in approval.votes
	voted_for(vote) & {actor, principal} != set()
	msg := concat("", [principal, " has already voted on this approval"])
}

voted_for(vote) := {vote.voter, object.get(vote, "on_behalf_of", vote.voter)} if is_string(object.get(vote, "on_behalf_of", null))

else := {vote.voter}

delegation_note := concat("", [" (for whom ", label(actor), " votes)"]) if delegated

else := ""

# --- resume ----------------------------------------------------------------------------------

denial contains {"code": "not_paused_task", "message": msg} if {
	action == "resume"
	not is_pause
	msg := concat("", [
		"only a task_pause is resumed; this approval is ",
		label(object.get(approval, "action_type", null)), " (action decide)",
	])
}

denial contains {"code": "not_owner", "message": msg} if {
	action == "resume"
	is_pause
	not is_requester
	msg := concat("", [
		label(actor), " does not own this paused task: only its owner ",
		label(object.get(approval, "requested_by", null)), " resumes it",
	])
}

# --- cancel ----------------------------------------------------------------------------------

# The requester withdraws its own request; an eligible approver (one holding a role the
# approval asks for) or an operator may drop it. An approval asking for no role has no eligible
# approvers here: "anyone may decide" must not become "anyone may cancel".
may_cancel if is_requester

may_cancel if count(actor_roles & approver_roles) > 0

may_cancel if is_operator

is_operator if count(actor_roles & {r | some r in lib.operator_roles}) > 0

decider_is_operator if count(decider_roles & {r | some r in lib.operator_roles}) > 0

denial contains {"code": "not_allowed_to_cancel", "message": msg} if {
	action == "cancel"
	not may_cancel
	msg := concat("", [
		label(actor), " is neither the requester, an eligible approver nor an operator (",
		concat(", ", sort([lib.text(r) | some r in lib.operator_roles])), ")",
	])
}

# --- extend ----------------------------------------------------------------------------------
# An eligible approver (as for decide, not through a delegate) moves the deadline later, once,
# by at most the decision's max_extension_seconds; the requester never does.

denial contains {"code": "self_approval", "message": msg} if {
	action == "extend"
	is_requester
	msg := concat("", [actor, " requested this action and cannot extend its deadline"])
}

denial contains {"code": "missing_role", "message": msg} if {
	action == "extend"
	not is_operator
	not escalated_person
	count(actor_roles & approver_roles_or_none) == 0
	msg := concat("", [label(actor), " is not an approver of this approval and cannot extend its deadline"])
}

# Undefined approver_roles (no array in the record) must refuse here, not skip the rule.
approver_roles_or_none := approver_roles if {
	approver_roles
} else := set()

denial contains {"code": "no_extension", "message": "the policy allows no extension of this approval's deadline"} if {
	action == "extend"
	not is_number(object.get(approval, ["policy", "max_extension_seconds"], null))
}

denial contains {"code": "extension_too_long", "message": msg} if {
	action == "extend"
	max := approval.policy.max_extension_seconds
	is_number(max)
	not extension_within(max)
	msg := concat("", ["an extension is 1 to ", format_int(max, 10), " seconds"])
}

# Fail closed: a missing or non-numeric extend_seconds is not within any limit.
extension_within(max) if {
	is_number(input.extend_seconds)
	input.extend_seconds >= 1
	input.extend_seconds <= max
}

denial contains {"code": "already_extended", "message": "this approval's deadline was extended already (once per approval)"} if {
	action == "extend"
	is_object(object.get(approval, "extension", null))
}

# --- report ----------------------------------------------------------------------------------

denial contains {"code": "not_requester", "message": msg} if {
	action == "report"
	not is_requester
	msg := concat("", [
		label(actor), " did not request this action: only ",
		label(object.get(approval, "requested_by", null)), " reports its execution",
	])
}

# Quoted string for messages; "(none)" for a non-string value. Callers pass object.get
# results, never a possibly undefined ref: an undefined message would silently drop the
# reason and allow the action (fail open).
label(x) := concat("", ["\"", x, "\""]) if is_string(x)

else := "(none)"

# --- result ------------------------------------------------------------------------------

reasons := [r |
	some code in sort({r.code | some r in denial})
	some r in denial
	r.code == code
]

result := {
	"allowed": count(reasons) == 0,
	"reasons": reasons,
}
