# A port operator's policy, written from scratch: nothing here comes from the repository's
# sample rules. It proves the policy service serves another organisation's Rego, data and golden
# cases without a code change: only the two entrypoints and their result shapes are fixed.
package countersign.decision

limit := data.harbor.customs_value_limit

value := input.context.declared_value if is_number(input.context.declared_value)

# Releasing a container declared above the limit (or without a value) needs customs.
needs contains {"code": "customs_value", "role": "customs"} if {
	input.action_type == "container.release"
	value >= limit
}

needs contains {"code": "customs_value", "role": "customs"} if {
	input.action_type == "container.release"
	not value
}

needs contains {"code": "vessel_reroute", "role": "harbourmaster"} if input.action_type == "vessel.reroute"

denied if input.action_type == "berth.demolish"

outcome := "deny" if denied

else := "needs_approval" if count(needs) > 0

else := "auto_approve"

codes := [c | some n in needs; c := n.code]

roles := sort({n.role | some n in needs})

result := {
	"outcome": outcome,
	"reasons": reasons,
	"risk": risk,
	"required_approvals": approvals,
	"approver_roles": roles,
	"timeout_seconds": 3600,
	"notify": roles,
}

reasons := [{"code": "demolition_forbidden", "message": "berths are never demolished through this system"}] if denied

else := [{"code": c, "message": c} | some c in sort({n.code | some n in needs})] if count(needs) > 0

else := [{"code": "harbor_routine", "message": "routine port operation"}]

approvals := data.harbor.reroute_approvals if input.action_type == "vessel.reroute"

else := 1

risk := "critical" if denied

else := "high" if count(needs) > 0

else := "low"
