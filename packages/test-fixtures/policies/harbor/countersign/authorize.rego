# Who may act on an approval, in the port operator's terms: a holder of one of the approval's
# roles decides (never the requester, once); the requester resumes, reports and cancels; a
# harbourmaster (data.harbor.clerk_roles) may also cancel.
package countersign.authorize

roles_of(who) := {r | some r in object.get(data.directory, who, [])}

actor := input.actor

approval := input.approval

voted if {
	some v in approval.votes
	v.voter == actor
}

eligible if {
	some r in approval.policy.approver_roles
	r in roles_of(actor)
}

clerk if {
	some r in data.harbor.clerk_roles
	r in roles_of(actor)
}

known if object.get(data.directory, actor, null) != null

denial contains {"code": "unknown_identity", "message": "not in the port directory"} if not known

denial contains {"code": "self_approval", "message": "the requester cannot decide"} if {
	input.action == "decide"
	actor == approval.requested_by
}

denial contains {"code": "missing_role", "message": "holds none of the approval's roles"} if {
	input.action == "decide"
	not eligible
}

denial contains {"code": "already_voted", "message": "voted already"} if {
	input.action == "decide"
	voted
}

denial contains {"code": "not_requester", "message": "only the requester"} if {
	input.action in {"resume", "report"}
	actor != approval.requested_by
}

denial contains {"code": "not_allowed_to_cancel", "message": "only the requester or a harbourmaster"} if {
	input.action == "cancel"
	actor != approval.requested_by
	not clerk
}

reasons := sort([d | some d in denial])

result := {"allowed": count(reasons) == 0, "reasons": reasons}
