# Default approval policy: decides what happens to an approval request.
#
# Input: the ApprovalRequest (action_id, action_type, description, context?, requested_by,
# run_id?, timeout_seconds?) plus `now` (RFC 3339, supplied by the service).
# Entrypoint: countersign/decision/result -> the PolicyDecision (without revision and
# decision_id, which the policy service adds).
package countersign.decision

import data.countersign.lib

# --- normalized input ------------------------------------------------------------------

action_type := lib.normalize_action_type(input.action_type)

# context is optional; anything that is not an object counts as empty.
raw_ctx := input.context if is_object(input.context)

else := {}

# What the rules read: the context, with an MCP call's money and environment arguments lifted
# in (see "MCP tools" below), so a tool's `amount` meets the same thresholds as a payment's.
ctx := object.union(raw_ctx, mcp_lifted)

# --- MCP tools ---------------------------------------------------------------------------
# The MCP gateway (services/mcp) asks about every tool call as action type `mcp.<tool>` with
# context.mcp = {server, tool, annotations, arguments}. Annotations follow the MCP spec's
# defaults when absent (destructiveHint true, idempotentHint false), so an unannotated tool that
# may write needs a person; only readOnlyHint, or destructiveHint false with idempotentHint true,
# lets it through. The name rules and the amount rules fire whatever the annotations say: an
# upstream server's hints are its own claims.

is_mcp if startswith(action_type, "mcp.")

mcp := raw_ctx.mcp if {
	is_mcp
	is_object(raw_ctx.mcp)
} else := {}

mcp_arguments := mcp.arguments if is_object(mcp.arguments)

else := {}

mcp_annotations := mcp.annotations if is_object(mcp.annotations)

else := {}

mcp_tool := lower(substring(action_type, 4, -1))

mcp_read_only if mcp_annotations.readOnlyHint == true

mcp_lifted := {key: mcp_arguments[key] |
	is_mcp
	some key in lib.mcp.lifted_arguments
	key in object.keys(mcp_arguments)
}

is_money if {
	is_mcp
	"amount" in object.keys(mcp_arguments)
}

fired contains {"code": "mcp_destructive", "message": msg} if {
	is_mcp
	not mcp_read_only
	object.get(mcp_annotations, "destructiveHint", true) != false
	msg := concat("", ["MCP tool ", mcp_tool, " may destroy data (destructiveHint, true unless the tool says false)"])
}

fired contains {"code": "mcp_not_idempotent", "message": msg} if {
	is_mcp
	not mcp_read_only
	object.get(mcp_annotations, "idempotentHint", false) != true
	msg := concat("", ["MCP tool ", mcp_tool, " is not idempotent (idempotentHint, false unless the tool says true)"])
}

is_mcp_destructive if "mcp_destructive" in fired_codes

is_mcp_not_idempotent if "mcp_not_idempotent" in fired_codes

fired contains {"code": "mcp_dangerous_name", "message": msg} if {
	is_mcp
	words := [w | some w in lib.mcp.dangerous_words; contains(mcp_tool, w)]
	count(words) > 0
	msg := concat("", ["MCP tool ", mcp_tool, " is named for an action that needs a person (", concat(", ", words), ")"])
}

# The amount rules only fire for a numeric amount ("1500" or null do not count).
amount := ctx.amount if is_number(ctx.amount)

item_count := ctx.item_count if is_number(ctx.item_count)

# The amount as given, null when absent (a `not` over an undefined ref would be undefined too).
given_amount := object.get(ctx, "amount", null)

is_money if action_type in lib.money_actions

is_delete if contains(action_type, "delete")

is_pause if action_type == "task_pause"

# Fail closed on environments: a request that names one is production unless the name is a
# known non-production environment. Aliases (prod, prd, live, any case, surrounding space) cite
# production_environment; any other value (a typo, "production-eu", "", a number) cites
# unknown_environment. Only a request without the key names no environment.
has_environment if "environment" in object.keys(ctx)

environment := lower(trim_space(ctx.environment)) if is_string(ctx.environment)

is_production_alias if environment in lib.environments.production

is_non_production if environment in lib.environments.non_production

is_unknown_environment if {
	has_environment
	not is_production_alias
	not is_non_production
}

is_production if is_production_alias

is_production if is_unknown_environment

# Fail closed on money: an amount that is not a JSON number, or a currency the thresholds do not
# cover, cannot be judged, so a human is asked. No currency means default_currency.
has_known_currency if not "currency" in object.keys(ctx)

has_known_currency if {
	is_string(ctx.currency)
	upper(trim_space(ctx.currency)) in lib.currencies
}

# --- rules: each adds at most one {code, message} -----------------------------------------

# Codes whose firing denies the request outright.
deny_codes := {"amount_limit_exceeded"}

fired contains {"code": "amount_threshold", "message": msg} if {
	is_money
	amount >= lib.thresholds.payment_amount
	msg := concat("", [
		"amount ", lib.text(amount),
		" >= payment threshold ", lib.text(lib.thresholds.payment_amount),
	])
}

fired contains {"code": "high_value", "message": msg} if {
	is_money
	amount >= lib.thresholds.dual_approval_amount
	msg := concat("", [
		"amount ", lib.text(amount),
		" >= dual approval threshold ", lib.text(lib.thresholds.dual_approval_amount),
		": ", lib.text(lib.approvals.dual), " approvals required",
	])
}

fired contains {"code": "amount_limit_exceeded", "message": msg} if {
	is_money
	amount > lib.thresholds.max_amount
	msg := concat("", [
		"amount ", lib.text(amount),
		" > maximum amount ", lib.text(lib.thresholds.max_amount),
		": denied",
	])
}

fired contains {"code": "missing_amount", "message": msg} if {
	is_money
	not is_number(given_amount)
	msg := concat("", [
		"money action ", input.action_type, " has no numeric context.amount (",
		lib.text(given_amount), "): it cannot be checked against the thresholds",
	])
}

fired contains {"code": "unknown_currency", "message": msg} if {
	is_money
	not has_known_currency
	msg := concat("", [
		"currency ", lib.text(ctx.currency), " is not one the policy knows (",
		concat(", ", lib.currencies), "; none means ", lib.default_currency, ")",
	])
}

fired contains {"code": "production_environment", "message": msg} if {
	is_production_alias
	msg := concat("", ["production environment (context.environment ", ctx.environment, ")"])
}

fired contains {"code": "unknown_environment", "message": msg} if {
	is_unknown_environment
	msg := concat("", [
		"unknown environment (context.environment ", lib.text(ctx.environment),
		") counts as production; known non-production environments: ",
		concat(", ", lib.environments.non_production),
	])
}

fired contains {"code": "bulk_operation", "message": bulk_message}

is_bulk if "bulk_operation" in fired_codes

# One message even when both bulk conditions hold, so the code appears once.
bulk_message := msg if {
	item_count >= lib.thresholds.bulk_items
	msg := concat("", [
		"item_count ", lib.text(item_count),
		" >= bulk threshold ", lib.text(lib.thresholds.bulk_items),
	])
} else := "context.bulk is true" if {
	ctx.bulk == true
}

fired contains {"code": "delete_operation", "message": msg} if {
	is_delete
	msg := concat("", ["action type ", input.action_type, " is a delete"])
}

is_sensitive if action_type in lib.sensitive_actions

fired contains {"code": "sensitive_action", "message": msg} if {
	is_sensitive
	msg := concat("", ["action type ", input.action_type, " is a sensitive action"])
}

fired contains {"code": "paused_task", "message": msg} if {
	is_pause
	msg := "paused task: only its owner can resume it"
}

fired_codes := {r.code | some r in fired}

is_high_value if "high_value" in fired_codes

# A money action whose size is unknown is treated as a large one for risk.
is_unjudged_money if "missing_amount" in fired_codes

is_unjudged_money if "unknown_currency" in fired_codes

denied if {
	some code in fired_codes
	code in deny_codes
}

production_delete if {
	is_production
	is_delete
}

# --- policy changes ----------------------------------------------------------------------

# A new policy bundle (`pnpm policy publish`) is itself an approval: two people from ops and
# security (approver_roles_by_reason.policy_change, approvals.dual), never the publisher
# (authorize refuses self_approval), and no bypass role skips it: the policy guarding
# everyone's actions must not be loosened by one person.
is_policy_change if action_type == "policy_change"

# Break-glass: a named identity (policy_change.break_glass) may put a policy live at once in an
# emergency, asking for it explicitly. Auto-approved, recorded like every approval, critical
# risk, and security is notified (notify_by_reason.break_glass).
break_glass if {
	is_policy_change
	ctx.break_glass == true
	input.requested_by in {id | some id in lib.policy_change.break_glass}
}

fired contains {"code": "policy_change", "message": "a policy change goes live only once approved"} if {
	is_policy_change
	not break_glass
}

# A directory change (`pnpm directory publish`) is routed the same way: the directory says who
# holds which role, so whoever could change it alone could make themselves an approver of
# anything. Two people from ops and security (approver_roles_by_reason.directory_change), never
# the requester, never someone the change grants a role (authorize refuses role_grantee), and
# no bypass role skips it. No break-glass: an emergency edit of the seed file is ops' way.
is_directory_change if action_type == "directory_change"

fired contains {"code": "directory_change", "message": "a directory change goes live only once approved"} if {
	is_directory_change
}

break_glass_reason := {"code": "break_glass", "message": msg} if {
	break_glass
	msg := concat("", ["break-glass policy change by ", input.requested_by, ": live without approval"])
}

# --- bypass ------------------------------------------------------------------------------

requester_roles := lib.roles_of(input.requested_by)

bypass_roles_held := requester_roles & {r | some r in lib.bypass_roles}

# A bypass role turns needs_approval into auto_approve. It never overrides a deny, never
# applies to task_pause (only the owner resumes), and is only reported when some rule
# fired (with nothing fired the request is auto-approved anyway).
bypass if {
	count(fired) > 0
	not denied
	not is_pause
	not is_policy_change
	not is_directory_change
	count(bypass_roles_held) > 0
}

bypass_reason := {"code": "bypass_role", "message": msg} if {
	bypass
	msg := concat("", [
		"requester ", input.requested_by, " holds bypass role ",
		concat(", ", sort(bypass_roles_held)), ": auto-approved",
	])
}

no_rule_reason := {
	"code": "no_rule_matched",
	"message": "no policy rule matched: auto-approved",
}

all_reasons := {break_glass_reason} if break_glass

else := fired | {bypass_reason} if bypass

else := fired if count(fired) > 0

else := {no_rule_reason}

# --- decision fields ---------------------------------------------------------------------

outcome := "deny" if denied

else := "auto_approve" if bypass

else := "needs_approval" if count(fired) > 0

else := "auto_approve"

risk := "critical" if denied

else := "critical" if production_delete

else := "critical" if break_glass

else := "high" if is_policy_change

else := "high" if is_directory_change

else := "high" if amount > lib.thresholds.risk_high_amount

else := "high" if is_production

else := "high" if is_unjudged_money

else := "high" if is_delete

else := "high" if is_mcp_destructive

else := "medium" if amount > lib.thresholds.risk_medium_amount

else := "medium" if is_bulk

else := "medium" if is_sensitive

else := "medium" if is_mcp_not_idempotent

else := "low"

required_approvals := lib.approvals.dual if is_high_value

else := lib.approvals.dual if production_delete

else := lib.approvals.dual if is_policy_change

else := lib.approvals.dual if is_directory_change

else := lib.approvals.default

# task_pause needs no role: the authorize entrypoint checks ownership instead. Otherwise a
# request that needs a human always names roles: if the fired rules map to none (a data edit
# that forgot approver_roles_by_reason), the operators are asked, never "anyone".
approver_roles := [] if is_pause

else := sort(rule_roles) if count(rule_roles) > 0

else := sort(lib.operator_roles) if outcome == "needs_approval"

else := []

rule_roles := roles_by_reason | roles_by_action_type

roles_by_reason := {role |
	some code in fired_codes
	some role in lib.approver_roles_by_reason[code]
}

# Action-type roles (deploy -> ops) only matter when a human is asked at all.
roles_by_action_type := {role |
	count(fired) > 0
	some role in lib.approver_roles_by_action_type[action_type]
}

# The request's own timeout wins (capped); otherwise the default for its type.
timeout_seconds := min([floor(input.timeout_seconds), lib.thresholds.max_timeout_seconds]) if {
	is_number(input.timeout_seconds)
	input.timeout_seconds >= 1
} else := t if {
	t := lib.timeouts.by_action_type[action_type]
} else := lib.timeouts.money if {
	is_money
} else := lib.timeouts.delete if {
	is_delete
} else := lib.timeouts.default

notify := sort({channel |
	some r in all_reasons
	some channel in lib.notify_by_reason[r.code]
})

# Sorted by code; each code appears at most once.
reasons := [r |
	some code in sort({r.code | some r in all_reasons})
	some r in all_reasons
	r.code == code
]

# --- reminders and escalation ------------------------------------------------------------
# A pending approval's follow-ups, per action type (first) or risk, from data.follow_ups:
# remind_after_seconds (approvers who have not voted are reminded, every interval),
# escalate_after_seconds with escalate_to {roles, people} (added as approvers, notified) and
# escalation_extends_seconds (the deadline moves by that much when it escalates). Only the
# known keys pass, and only for an approval people decide.

follow_up_keys := [
	"remind_after_seconds", "escalate_after_seconds", "escalate_to", "escalation_extends_seconds",
	"max_extension_seconds",
]

follow_up_plan := lib.follow_ups.by_action_type[action_type] if {
	is_object(lib.follow_ups.by_action_type[action_type])
} else := lib.follow_ups.by_risk[risk] if {
	is_object(lib.follow_ups.by_risk[risk])
} else := {}

follow_ups := {key: follow_up_plan[key] |
	outcome == "needs_approval"
	some key in follow_up_keys
	key in object.keys(follow_up_plan)
}

result := object.union(
	{
		"outcome": outcome,
		"reasons": reasons,
		"risk": risk,
		"required_approvals": required_approvals,
		"approver_roles": approver_roles,
		"timeout_seconds": timeout_seconds,
		"notify": notify,
	},
	follow_ups,
)
