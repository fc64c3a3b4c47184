package countersign.mcp_test

import data.countersign.decision

# An MCP tool call as the gateway (services/mcp) sends it.
call(tool, annotations, arguments) := {
	"action_id": "mcp-1",
	"action_type": concat("", ["mcp.", tool]),
	"description": "agent-a calls an MCP tool",
	"requested_by": "agent-a",
	"now": "2025-01-01T00:00:00Z",
	"context": {"mcp": {"server": "files", "tool": tool, "annotations": annotations, "arguments": arguments}},
}

directory := {"agent-a": [], "bob": ["ops"], "carol": ["admin"], "frank": ["finance"]}

decide(input_value) := d if {
	d := decision.result with input as input_value with data.directory as directory
}

codes(d) := {r.code | some r in d.reasons}

read_only := {"readOnlyHint": true}

harmless_write := {"destructiveHint": false, "idempotentHint": true}

test_read_only_tool_passes_through if {
	d := decide(call("read_status", read_only, {"path": "/"}))
	d.outcome == "auto_approve"
	codes(d) == {"no_rule_matched"}
}

test_declared_harmless_write_passes_through if {
	d := decide(call("set_label", harmless_write, {"label": "x"}))
	d.outcome == "auto_approve"
}

test_unannotated_tool_is_destructive_and_not_idempotent_by_the_spec_defaults if {
	d := decide(call("write_note", {}, {}))
	d.outcome == "needs_approval"
	codes(d) == {"mcp_destructive", "mcp_not_idempotent"}
	d.approver_roles == ["ops"]
	d.risk == "high"
}

test_destructive_annotation_needs_a_person if {
	d := decide(call("reset_cache", {"destructiveHint": true, "idempotentHint": true}, {}))
	d.outcome == "needs_approval"
	codes(d) == {"mcp_destructive"}
}

test_non_idempotent_annotation_needs_a_person if {
	d := decide(call("append_log", {"destructiveHint": false, "idempotentHint": false}, {}))
	d.outcome == "needs_approval"
	codes(d) == {"mcp_not_idempotent"}
	d.risk == "medium"
}

test_dangerous_names_need_a_person_whatever_the_annotations_say if {
	every tool in ["delete_file", "drop_table", "transfer_funds", "deploy_app", "Purge_Queue"] {
		d := decide(call(tool, read_only, {}))
		d.outcome == "needs_approval"
		"mcp_dangerous_name" in codes(d)
	}
}

test_dangerous_name_message_names_the_words if {
	d := decide(call("delete_and_deploy", read_only, {}))
	some r in d.reasons
	r.code == "mcp_dangerous_name"
	r.message == "MCP tool delete_and_deploy is named for an action that needs a person (delete, deploy)"
}

test_amount_argument_meets_the_payment_thresholds if {
	d := decide(call("pay_invoice", read_only, {"amount": 1500, "currency": "EUR"}))
	d.outcome == "needs_approval"
	"amount_threshold" in codes(d)
	"finance" in d.approver_roles
}

test_small_amount_passes if {
	d := decide(call("pay_invoice", read_only, {"amount": 10}))
	d.outcome == "auto_approve"
}

test_amount_over_the_maximum_is_denied if {
	d := decide(call("send_money", read_only, {"amount": 5000000}))
	d.outcome == "deny"
	"amount_limit_exceeded" in codes(d)
}

test_amount_that_is_not_a_number_needs_finance if {
	d := decide(call("send_money", read_only, {"amount": "lots"}))
	d.outcome == "needs_approval"
	"missing_amount" in codes(d)
}

test_production_environment_argument_counts if {
	d := decide(call("restart_service", read_only, {"environment": "prod"}))
	d.outcome == "needs_approval"
	"production_environment" in codes(d)
}

test_arguments_win_over_the_context_for_mcp_calls if {
	base := call("pay_invoice", read_only, {"amount": 5000000})
	d := decide(object.union(base, {"context": object.union(base.context, {"amount": 1})}))
	d.outcome == "deny"
}

test_missing_mcp_context_fails_closed if {
	d := decide({
		"action_id": "mcp-2",
		"action_type": "mcp.anything",
		"description": "no context",
		"requested_by": "agent-a",
		"now": "2025-01-01T00:00:00Z",
	})
	d.outcome == "needs_approval"
	codes(d) == {"mcp_destructive", "mcp_not_idempotent"}
}

test_mcp_arguments_are_not_read_for_other_action_types if {
	d := decide({
		"action_id": "x-1",
		"action_type": "send_report",
		"description": "not MCP",
		"requested_by": "agent-a",
		"now": "2025-01-01T00:00:00Z",
		"context": {"mcp": {"arguments": {"amount": 5000000}}},
	})
	d.outcome == "auto_approve"
}
