# Who may decide an approval.
#
# Input: {"approval": <Approval record>, "decider": string, "owner"?: string}.
# Entrypoint: countersign/authorize/result -> {"allowed": bool, "reasons": [{code, message}]}.
# allowed is true exactly when reasons is empty. Roles come only from the directory in
# data: roles stated anywhere in the input are ignored.
package countersign.authorize

import data.countersign.lib

approval := input.approval if is_object(input.approval)

else := {}

# "" when missing or not a string; invalid_decider then fails the check.
decider := input.decider if is_string(input.decider)

else := ""

action_type := lib.normalize_action_type(approval.action_type)

is_pause if action_type == "task_pause"

decider_roles := lib.roles_of(decider)

# --- failing checks ----------------------------------------------------------------------

denial contains {"code": "invalid_decider", "message": "decider must be a non-empty identity"} if {
	not valid_decider
}

valid_decider if trim_space(decider) != ""

denial contains {"code": "self_approval", "message": msg} if {
	not is_pause
	valid_decider
	decider == approval.requested_by
	msg := concat("", [decider, " requested this action and cannot decide it"])
}

# Fail closed: a record whose policy carries no approver_roles array requires a role nobody
# can prove, rather than none.
denial contains {"code": "missing_role", "message": msg} if {
	not is_pause

	# object.get, not a ref: `not is_array(ref)` does not hold when the ref is undefined.
	not is_array(object.get(approval, ["policy", "approver_roles"], null))
	msg := "approval has no policy.approver_roles: cannot check the decider's role"
}

denial contains {"code": "missing_role", "message": msg} if {
	not is_pause
	is_array(approval.policy.approver_roles)
	required := {r | some r in approval.policy.approver_roles}
	count(required) > 0
	count(decider_roles & required) == 0
	msg := concat("", [
		label(decider), " holds none of the approver roles ",
		concat(", ", sort([lib.text(r) | some r in required])),
	])
}

denial contains {"code": "already_voted", "message": msg} if {
	valid_decider
	some vote in approval.votes
	vote.voter == decider
	msg := concat("", [decider, " has already voted on this approval"])
}

# task_pause: ownership replaces the self-approval and role rules.
denial contains {"code": "owner_mismatch", "message": msg} if {
	is_pause
	not owner_matches
	msg := concat("", [
		"owner ", label(object.get(input, "owner", null)),
		" does not match the paused task's owner ",
		label(object.get(approval, ["context", "owner"], null)),
	])
}

# Quoted string for messages; "(none)" for a non-string value. Callers pass object.get
# results, never a possibly undefined ref: an undefined message would silently drop the
# reason and allow the decision (fail open).
label(x) := concat("", ["\"", x, "\""]) if is_string(x)

else := "(none)"

owner_matches if {
	is_string(input.owner)
	input.owner != ""
	input.owner == approval.context.owner
}

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
