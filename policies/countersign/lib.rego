# Helpers shared by the decision and authorize entrypoints.
#
# Everything ops tune (thresholds, action lists, roles, timeouts) lives in data.json next to
# this file, mounted at data.countersign. Who holds which role is not policy data: the policy
# service puts the directory (DIRECTORY_FILE, identity -> roles) at data.directory, and
# replaces it when that file changes. The rules only read both.
#
# WASM note: the policy is compiled to WASM and run by @open-policy-agent/opa-wasm, so only
# builtins that OPA implements natively in WASM are used here (no time.*, crypto.*, units.*,
# http.send, print, or sprintf, which the SDK implements in JavaScript with different %v).
package countersign.lib

# One alias per data key. Never alias data.countersign as a whole: the rule packages live
# under it too (data.countersign.decision, ...), which would make every rule recursive.
thresholds := data.countersign.thresholds

approvals := data.countersign.approvals

money_actions := data.countersign.money_actions

# Currencies whose amounts the thresholds may be compared with at face value (the thresholds
# are in default_currency); a request without a currency is in default_currency.
currencies := data.countersign.currencies

default_currency := data.countersign.default_currency

# Environment names, lower-case: production aliases and the known non-production names.
# Anything else is an unknown environment and counts as production (fail closed).
environments := data.countersign.environments

sensitive_actions := data.countersign.sensitive_actions

approver_roles_by_reason := data.countersign.approver_roles_by_reason

approver_roles_by_action_type := data.countersign.approver_roles_by_action_type

timeouts := data.countersign.timeouts

bypass_roles := data.countersign.bypass_roles

# Roles whose holders may cancel any approval (on-call operators).
operator_roles := data.countersign.operator_roles

notify_by_reason := data.countersign.notify_by_reason

# Policy changes (action type policy_change, filed by `pnpm policy publish`): who may take the
# break-glass path.
policy_change := data.countersign.policy_change

# MCP tools: argument names lifted into the context, words in tool names that need a person.
mcp := data.countersign.mcp

# Not under data.countersign: the service supplies it, and a bundle carrying its own is refused.
directory := data.directory

# Lower-cased action type, "" when missing or not a string, so list lookups never error.
normalize_action_type(t) := lower(t) if is_string(t)

else := ""

# Roles of an identity, only ever from the directory in data. Unknown identities and
# non-string identities have no roles.
roles_of(identity) := {role | some role in directory[identity]}

# Whether the directory names this identity (with or without roles).
known(identity) if is_array(directory[identity])

# Any value as message text: strings as they are, anything else as JSON. Messages must never
# be undefined (a builtin type error would drop the reason they belong to). json.marshal is
# native in WASM and keeps fractions; format_int would print 500.5 as 500 and fails on very
# large numbers in WASM.
text(x) := x if is_string(x)

else := json.marshal(x)

# Reminders and escalation of pending approvals, per action type (first) or risk.
follow_ups := data.countersign.follow_ups
