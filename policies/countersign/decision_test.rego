package countersign.decision_test

import data.countersign.decision

# A request that fires nothing; tests override only what they exercise.
base := {
	"action_id": "act-1",
	"action_type": "noop",
	"description": "test request",
	"requested_by": "dave",
	"now": "2025-01-01T00:00:00Z",
}

req(overrides) := object.union(base, overrides)

# The roles the policy service supplies from the directory file (the sample people).
directory := {
	"alice": ["finance", "ops"],
	"bob": ["ops"],
	"carol": ["admin"],
	"dave": [],
	"erin": ["security"],
	"frank": ["finance"],
	"grace": ["ops", "security"],
}

decide(overrides) := d if {
	d := decision.result with input as req(overrides) with data.directory as directory
}

codes(d) := [r.code | some r in d.reasons]

money(action_type, amount) := decide({"action_type": action_type, "context": {"amount": amount}})

# --- nothing fired -----------------------------------------------------------------------

test_nothing_fired_auto_approves if {
	decide({}) == {
		"outcome": "auto_approve",
		"reasons": [{"code": "no_rule_matched", "message": "no policy rule matched: auto-approved"}],
		"risk": "low",
		"required_approvals": 1,
		"approver_roles": [],
		"timeout_seconds": 3600,
		"notify": [],
	}
}

test_missing_context if {
	d := decision.result with input as object.remove(base, ["context"])
	d.outcome == "auto_approve"
	codes(d) == ["no_rule_matched"]
}

test_context_not_an_object_counts_as_empty if {
	d := decide({"action_type": "send_email", "context": "environment=production"})
	d.outcome == "auto_approve"
	d.risk == "low"

	# a payment whose context is not an object has no amount: fail closed
	codes(decide({"action_type": "payment", "context": "amount=5000"})) == ["missing_amount"]
}

test_missing_action_type if {
	d := decision.result with input as object.remove(base, ["action_type"])
	d.outcome == "auto_approve"
	d.timeout_seconds == 3600
}

test_non_string_action_type if {
	d := decide({"action_type": 42, "context": {"amount": 5000}})
	d.outcome == "auto_approve"
	d.risk == "high"
}

# --- amount_threshold ----------------------------------------------------------------------

test_amount_499_below_payment_threshold if {
	d := money("payment", 499)
	d.outcome == "auto_approve"
	codes(d) == ["no_rule_matched"]
}

test_amount_500_at_payment_threshold if {
	d := money("payment", 500)
	d.outcome == "needs_approval"
	d.reasons == [{"code": "amount_threshold", "message": "amount 500 >= payment threshold 500"}]
	d.approver_roles == ["finance"]
	d.notify == ["finance"]
	d.required_approvals == 1
}

test_amount_message_keeps_fractions if {
	d := money("payment", 500.5)
	d.reasons[0].message == "amount 500.5 >= payment threshold 500"
}

test_every_money_action_fires_amount_threshold if {
	every action_type in ["payment", "transfer", "withdrawal", "refund", "create_billing"] {
		codes(money(action_type, 1500)) == ["amount_threshold"]
	}
}

test_money_action_case_insensitive if {
	codes(money("Payment", 1500)) == ["amount_threshold"]
}

test_amount_on_non_money_action_does_not_fire if {
	d := money("deploy", 50000)
	codes(d) == ["no_rule_matched"]
	d.outcome == "auto_approve"
}

# --- missing_amount and unknown_currency: money that cannot be judged asks finance -----------

test_non_number_amount_needs_approval if {
	every amount in ["1500", null, true, {"value": 1500}, [1500]] {
		d := money("payment", amount)
		d.outcome == "needs_approval"
		d.risk == "high"
		codes(d) == ["missing_amount"]
		d.approver_roles == ["finance"]
		d.notify == ["finance"]
	}
}

test_missing_amount_on_every_money_action if {
	every action_type in ["payment", "transfer", "withdrawal", "refund", "create_billing", "PAYMENT"] {
		d := decide({"action_type": action_type})
		d.outcome == "needs_approval"
		d.reasons == [{
			"code": "missing_amount",
			"message": concat("", [
				"money action ", action_type,
				" has no numeric context.amount (null): it cannot be checked against the thresholds",
			]),
		}]
	}
}

test_missing_amount_message_shows_the_value if {
	money("payment", "1500").reasons[0].message == "money action payment has no numeric context.amount (1500): it cannot be checked against the thresholds"
}

test_missing_amount_only_for_money_actions if {
	decide({"action_type": "send_email"}).outcome == "auto_approve"
}

test_missing_amount_is_not_bypassed_by_non_admins if {
	every who in ["alice", "frank", "dave", "mallory"] {
		decide({"action_type": "payment", "requested_by": who}).outcome == "needs_approval"
	}
}

test_known_currencies_any_case_and_space if {
	every currency in ["EUR", "eur", " usd ", "GBP", "chf"] {
		d := decide({"action_type": "payment", "context": {"amount": 10, "currency": currency}})
		d.outcome == "auto_approve"
		codes(d) == ["no_rule_matched"]
	}
}

test_no_currency_is_the_default_currency if {
	money("payment", 10).outcome == "auto_approve"
	data.countersign.default_currency in data.countersign.currencies
}

test_unknown_currency_needs_approval if {
	every currency in ["JPY", "XBT", "", "EURO", 978, null, ["EUR"]] {
		d := decide({"action_type": "transfer", "context": {"amount": 10, "currency": currency}})
		d.outcome == "needs_approval"
		codes(d) == ["unknown_currency"]
		d.risk == "high"
		d.approver_roles == ["finance"]
		d.notify == ["finance"]
	}
}

test_unknown_currency_message if {
	d := decide({"action_type": "payment", "context": {"amount": 10, "currency": "JPY"}})
	d.reasons == [{
		"code": "unknown_currency",
		"message": "currency JPY is not one the policy knows (CHF, EUR, GBP, USD; none means EUR)",
	}]
}

test_unknown_currency_with_large_amount_keeps_amount_rules if {
	d := decide({"action_type": "payment", "context": {"amount": 20000, "currency": "JPY"}})
	codes(d) == ["amount_threshold", "high_value", "unknown_currency"]
	d.required_approvals == 2
}

test_unknown_currency_and_missing_amount_together if {
	d := decide({"action_type": "refund", "context": {"currency": "JPY"}})
	codes(d) == ["missing_amount", "unknown_currency"]
}

test_currency_ignored_on_non_money_actions if {
	decide({"action_type": "send_email", "context": {"currency": "JPY"}}).outcome == "auto_approve"
}

test_currencies_come_from_data if {
	d := decide({"action_type": "payment", "context": {"amount": 10, "currency": "JPY"}})
		with data.countersign.currencies as ["EUR", "JPY"]
	d.outcome == "auto_approve"
}

test_negative_amount_does_not_fire if {
	money("payment", -5000).outcome == "auto_approve"
}

# --- high_value ----------------------------------------------------------------------------

test_amount_9999_single_approval if {
	d := money("transfer", 9999)
	codes(d) == ["amount_threshold"]
	d.required_approvals == 1
}

test_amount_10000_high_value_dual_approval if {
	d := money("transfer", 10000)
	d.outcome == "needs_approval"
	d.reasons == [
		{"code": "amount_threshold", "message": "amount 10000 >= payment threshold 500"},
		{"code": "high_value", "message": "amount 10000 >= dual approval threshold 10000: 2 approvals required"},
	]
	d.required_approvals == 2
	d.approver_roles == ["finance"]
	d.notify == ["finance"]
}

# --- amount_limit_exceeded -----------------------------------------------------------------

test_amount_1000000_is_not_denied if {
	d := money("withdrawal", 1000000)
	d.outcome == "needs_approval"
	codes(d) == ["amount_threshold", "high_value"]
}

test_amount_1000001_is_denied if {
	d := money("withdrawal", 1000001)
	d.outcome == "deny"
	d.risk == "critical"
	codes(d) == ["amount_limit_exceeded", "amount_threshold", "high_value"]
	d.reasons[0].message == "amount 1000001 > maximum amount 1000000: denied"
	d.notify == ["finance", "security"]
}

test_huge_amount_is_denied if {
	money("payment", 1e30).outcome == "deny"
}

# --- production_environment ----------------------------------------------------------------

test_production_any_case if {
	every env in ["production", "Production", "PRODUCTION", " production ", "prod", "PROD", "prd", "live", " Live\t"] {
		d := decide({"action_type": "deploy", "context": {"environment": env}})
		d.outcome == "needs_approval"
		codes(d) == ["production_environment"]
		d.risk == "high"
		d.approver_roles == ["ops"]
		d.notify == ["ops"]
	}
}

test_production_message if {
	d := decide({"context": {"environment": "Production"}})
	d.reasons[0].message == "production environment (context.environment Production)"
}

test_non_production_environments if {
	every env in ["staging", "Staging", " dev ", "development", "test", "testing", "qa", "sandbox", "local", "stage", "demo"] {
		decide({"action_type": "deploy", "context": {"environment": env}}).outcome == "auto_approve"
	}
}

test_no_environment_is_not_production if {
	d := decide({"action_type": "deploy", "context": {"resource": "api"}})
	d.outcome == "auto_approve"
}

test_unknown_environment_counts_as_production if {
	every env in ["production-eu", "prod1", "stagin", "", "  ", 1, null, ["production"], {"name": "dev"}] {
		d := decide({"action_type": "deploy", "context": {"environment": env}})
		d.outcome == "needs_approval"
		codes(d) == ["unknown_environment"]
		d.risk == "high"
		d.approver_roles == ["ops"]
		d.notify == ["ops"]
	}
}

test_unknown_environment_message if {
	d := decide({"context": {"environment": "production-eu"}})
	d.reasons == [{
		"code": "unknown_environment",
		"message": "unknown environment (context.environment production-eu) counts as production; known non-production environments: demo, dev, development, local, qa, sandbox, stage, staging, test, testing",
	}]
}

test_unknown_environment_delete_is_critical_dual_approval if {
	d := decide({"action_type": "delete_user", "context": {"environment": "eu-west"}})
	d.risk == "critical"
	d.required_approvals == 2
	codes(d) == ["delete_operation", "unknown_environment"]
}

test_environment_lists_come_from_data if {
	d := decide({"context": {"environment": "eu-west"}})
		with data.countersign.environments.non_production as ["eu-west"]
	d.outcome == "auto_approve"
	e := decide({"context": {"environment": "staging"}})
		with data.countersign.environments.non_production as []
	codes(e) == ["unknown_environment"]
}

# --- bulk_operation ------------------------------------------------------------------------

test_bulk_true if {
	d := decide({"context": {"bulk": true}})
	d.outcome == "needs_approval"
	d.reasons == [{"code": "bulk_operation", "message": "context.bulk is true"}]
	d.risk == "medium"
	d.approver_roles == ["ops"]
}

test_bulk_not_strictly_true if {
	every bulk in [false, "true", 1] {
		decide({"context": {"bulk": bulk}}).outcome == "auto_approve"
	}
}

test_item_count_99 if {
	decide({"context": {"item_count": 99}}).outcome == "auto_approve"
}

test_item_count_100 if {
	d := decide({"context": {"item_count": 100}})
	d.reasons == [{"code": "bulk_operation", "message": "item_count 100 >= bulk threshold 100"}]
	d.risk == "medium"
}

test_item_count_not_a_number if {
	decide({"context": {"item_count": "500"}}).outcome == "auto_approve"
}

test_bulk_and_item_count_report_once if {
	d := decide({"context": {"bulk": true, "item_count": 250}})
	d.reasons == [{"code": "bulk_operation", "message": "item_count 250 >= bulk threshold 100"}]
}

# --- delete_operation ----------------------------------------------------------------------

test_delete_any_case_and_position if {
	every action_type in ["delete_user", "DELETE", "bulk_delete", "Delete_Repo"] {
		d := decide({"action_type": action_type})
		d.outcome == "needs_approval"
		codes(d) == ["delete_operation"]
		d.risk == "high"
		d.approver_roles == ["ops"]
		d.timeout_seconds == 1800
		d.required_approvals == 1
	}
}

test_delete_message if {
	decide({"action_type": "delete_user"}).reasons[0].message == "action type delete_user is a delete"
}

test_not_a_delete if {
	decide({"action_type": "remove_user"}).outcome == "auto_approve"
}

test_production_delete_is_critical_dual_approval if {
	d := decide({"action_type": "delete_user", "context": {"environment": "production"}})
	d.outcome == "needs_approval"
	codes(d) == ["delete_operation", "production_environment"]
	d.risk == "critical"
	d.required_approvals == 2
	d.approver_roles == ["ops"]
}

# --- sensitive_action ----------------------------------------------------------------------

test_each_sensitive_action if {
	every action_type in ["api_key_create", "user_permission_change", "database_modification", "code_execution"] {
		d := decide({"action_type": action_type})
		d.outcome == "needs_approval"
		d.reasons == [{
			"code": "sensitive_action",
			"message": concat("", ["action type ", action_type, " is a sensitive action"]),
		}]
		d.risk == "medium"
		d.approver_roles == ["security"]
		d.notify == ["security"]
	}
}

test_sensitive_action_case_insensitive if {
	codes(decide({"action_type": "API_KEY_CREATE"})) == ["sensitive_action"]
}

# --- paused_task ---------------------------------------------------------------------------

test_task_pause_needs_approval_without_roles if {
	decide({"action_type": "task_pause"}) == {
		"outcome": "needs_approval",
		"reasons": [{"code": "paused_task", "message": "paused task: only its owner can resume it"}],
		"risk": "low",
		"required_approvals": 1,
		"approver_roles": [],
		"timeout_seconds": 3600,
		"notify": [],
	}
}

test_task_pause_in_production_still_requires_no_role if {
	d := decide({"action_type": "task_pause", "context": {"environment": "production"}})
	d.outcome == "needs_approval"
	codes(d) == ["paused_task", "production_environment"]
	d.approver_roles == []
}

# --- bypass_role ---------------------------------------------------------------------------

test_bypass_by_admin if {
	d := decide({"action_type": "payment", "requested_by": "carol", "context": {"amount": 5000}})
	d.outcome == "auto_approve"
	d.reasons == [
		{"code": "amount_threshold", "message": "amount 5000 >= payment threshold 500"},
		{"code": "bypass_role", "message": "requester carol holds bypass role admin: auto-approved"},
	]
	d.notify == ["finance", "security"]
	d.risk == "high"
}

test_bypass_overrides_dual_approval if {
	d := decide({"action_type": "delete_user", "requested_by": "carol", "context": {"environment": "PRODUCTION"}})
	d.outcome == "auto_approve"
	codes(d) == ["bypass_role", "delete_operation", "production_environment"]
}

test_bypass_not_reported_when_nothing_fired if {
	d := decide({"requested_by": "carol"})
	d.outcome == "auto_approve"
	codes(d) == ["no_rule_matched"]
}

test_bypass_does_not_override_deny if {
	d := decide({"action_type": "payment", "requested_by": "carol", "context": {"amount": 2000000}})
	d.outcome == "deny"
	not "bypass_role" in codes(d)
}

test_bypass_does_not_apply_to_task_pause if {
	d := decide({"action_type": "task_pause", "requested_by": "carol"})
	d.outcome == "needs_approval"
	codes(d) == ["paused_task"]
}

test_non_admin_requesters_do_not_bypass if {
	every who in ["alice", "bob", "erin", "frank", "grace", "mallory"] {
		d := decide({"action_type": "payment", "requested_by": who, "context": {"amount": 5000}})
		d.outcome == "needs_approval"
	}
}

test_roles_in_the_request_are_not_trusted if {
	d := decide({
		"action_type": "payment",
		"requested_by": "dave",
		"roles": ["admin"],
		"context": {"amount": 5000, "roles": ["admin"], "requested_by_roles": ["admin"]},
	})
	d.outcome == "needs_approval"
}

test_bypass_roles_come_from_the_directory if {
	d := decision.result with input as req({"action_type": "payment", "requested_by": "dave", "context": {"amount": 5000}})
		with data.directory as object.union(directory, {"dave": ["admin"]})
	d.outcome == "auto_approve"
	e := decision.result with input as req({"action_type": "payment", "requested_by": "carol", "context": {"amount": 5000}})
		with data.directory as object.union(directory, {"carol": []})
	e.outcome == "needs_approval"
}

test_no_directory_no_bypass if {
	d := decision.result with input as req({"action_type": "payment", "requested_by": "carol", "context": {"amount": 5000}})
	d.outcome == "needs_approval"
}

test_non_string_requester_does_not_bypass if {
	decide({"action_type": "delete_user", "requested_by": ["carol"]}).outcome == "needs_approval"
}

# --- risk ------------------------------------------------------------------------------------

test_risk_amount_1001_high if {
	money("payment", 1001).risk == "high"
}

test_risk_amount_1000_medium if {
	money("payment", 1000).risk == "medium"
}

test_risk_amount_101_medium_any_action if {
	d := decide({"action_type": "deploy", "context": {"amount": 101}})
	d.risk == "medium"
	d.outcome == "auto_approve"
}

test_risk_amount_100_low if {
	decide({"context": {"amount": 100}}).risk == "low"
}

test_risk_amount_above_1000_high_any_action if {
	decide({"context": {"amount": 1000.01}}).risk == "high"
}

test_risk_critical_beats_everything if {
	d := decide({"action_type": "transfer", "context": {"amount": 5000000, "environment": "production", "bulk": true}})
	d.outcome == "deny"
	d.risk == "critical"
}

# --- required_approvals and approver_roles -------------------------------------------------

test_high_value_and_production_delete_still_two if {
	d := decide({"action_type": "refund", "context": {"amount": 20000, "environment": "production"}})
	d.required_approvals == 2
	d.approver_roles == ["finance", "ops"]
	d.notify == ["finance", "ops"]
}

test_roles_union_sorted if {
	d := decide({"action_type": "code_execution", "context": {"environment": "production", "bulk": true}})
	d.approver_roles == ["ops", "security"]
	codes(d) == ["bulk_operation", "production_environment", "sensitive_action"]
	d.risk == "high"
	d.timeout_seconds == 1800
}

test_action_type_roles_apply_when_a_rule_fired if {
	d := decide({"action_type": "deploy", "context": {"bulk": true}}) with data.countersign.approver_roles_by_action_type as {"deploy": ["release"]}
	d.approver_roles == ["ops", "release"]
}

test_action_type_roles_ignored_when_nothing_fired if {
	d := decide({"action_type": "deploy"})
	d.outcome == "auto_approve"
	d.approver_roles == []
}

# --- timeout_seconds -----------------------------------------------------------------------

test_timeout_by_action_type if {
	decide({"action_type": "code_execution"}).timeout_seconds == 1800
	decide({"action_type": "deploy"}).timeout_seconds == 3600
	decide({"action_type": "payment"}).timeout_seconds == 7200
	decide({"action_type": "create_billing"}).timeout_seconds == 7200
	decide({"action_type": "delete_user"}).timeout_seconds == 1800
	decide({"action_type": "send_email"}).timeout_seconds == 3600
}

test_timeout_explicit_wins if {
	decide({"action_type": "code_execution", "timeout_seconds": 7200}).timeout_seconds == 7200
	decide({"action_type": "payment", "timeout_seconds": 1}).timeout_seconds == 1
}

test_timeout_capped_at_seven_days if {
	decide({"timeout_seconds": 604800}).timeout_seconds == 604800
	decide({"timeout_seconds": 604801}).timeout_seconds == 604800
	decide({"timeout_seconds": 99999999}).timeout_seconds == 604800
}

test_timeout_fraction_floored if {
	decide({"timeout_seconds": 90.7}).timeout_seconds == 90
}

test_timeout_invalid_falls_back_to_default if {
	every t in [0, -5, 0.5, "600", null] {
		decide({"action_type": "payment", "timeout_seconds": t}).timeout_seconds == 7200
	}
}

# --- output shape --------------------------------------------------------------------------

test_reasons_sorted_by_code if {
	d := decide({"action_type": "bulk_delete", "context": {"environment": "production", "item_count": 500}})
	codes(d) == sort(codes(d))
	codes(d) == ["bulk_operation", "delete_operation", "production_environment"]
}

test_thresholds_come_from_data if {
	d := money("payment", 500) with data.countersign.thresholds.payment_amount as 1000
	d.outcome == "auto_approve"
}

# --- approver_roles: a request that needs a human names who ------------------------------

# With the shipped data, every request that needs approval (but a paused task, which its owner
# resumes) names at least one approver role: no decision lets "anyone" approve.
test_needs_approval_never_without_roles_for_shipped_data if {
	requests := [
		{"action_type": "payment"},
		{"action_type": "payment", "context": {"amount": 500}},
		{"action_type": "transfer", "context": {"amount": 20000}},
		{"action_type": "refund", "context": {"amount": 10, "currency": "JPY"}},
		{"action_type": "deploy", "context": {"environment": "prod"}},
		{"action_type": "deploy", "context": {"environment": "mars"}},
		{"action_type": "send_email", "context": {"bulk": true}},
		{"action_type": "delete_user"},
		{"action_type": "api_key_create"},
		{"action_type": "code_execution", "context": {"environment": "live", "item_count": 1000}},
	]
	every r in requests {
		d := decide(r)
		d.outcome == "needs_approval"
		count(d.approver_roles) > 0
	}
	every code, roles in data.countersign.approver_roles_by_reason {
		d := decide({"action_type": "noop"}) with decision.fired as {{"code": code, "message": "m"}}
		count(d.approver_roles) > 0
		count(roles) > 0
	}
}

test_rule_without_roles_asks_the_operators if {
	d := decide({"action_type": "send_email", "context": {"bulk": true}})
		with data.countersign.approver_roles_by_reason as {}
	d.outcome == "needs_approval"
	d.approver_roles == ["admin"]
	e := decide({"action_type": "send_email", "context": {"bulk": true}})
		with data.countersign.approver_roles_by_reason as {}
		with data.countersign.operator_roles as ["sre", "oncall"]
	e.approver_roles == ["oncall", "sre"]
}

test_bypassed_rule_without_roles_names_none if {
	d := decide({"action_type": "send_email", "requested_by": "carol", "context": {"bulk": true}})
		with data.countersign.approver_roles_by_reason as {}
	d.outcome == "auto_approve"
	d.approver_roles == []
}

# --- policy changes ----------------------------------------------------------------------

policy_change(who, context) := decide({"action_type": "policy_change", "requested_by": who, "context": context})

test_policy_change_needs_two_from_ops_and_security if {
	d := policy_change("bob", {"revision": "sha256:abc"})
	d.outcome == "needs_approval"
	d.required_approvals == 2
	d.approver_roles == ["ops", "security"]
	d.risk == "high"
	d.notify == ["ops", "security"]
	[r.code | some r in d.reasons] == ["policy_change"]
}

test_policy_change_is_never_bypassed if {
	d := policy_change("carol", {"revision": "sha256:abc"})
	d.outcome == "needs_approval"
	d.required_approvals == 2
}

test_break_glass_by_a_named_identity if {
	d := policy_change("carol", {"revision": "sha256:abc", "break_glass": true})
	d.outcome == "auto_approve"
	d.risk == "critical"
	d.notify == ["security"]
	[r.code | some r in d.reasons] == ["break_glass"]
}

test_break_glass_refused_to_others if {
	d := policy_change("bob", {"revision": "sha256:abc", "break_glass": true})
	d.outcome == "needs_approval"
	d.required_approvals == 2
}

test_break_glass_must_be_true if {
	d := policy_change("carol", {"revision": "sha256:abc", "break_glass": "yes"})
	d.outcome == "needs_approval"
}

# --- directory changes -------------------------------------------------------------------

directory_change(who) := decide({
	"action_type": "directory_change",
	"requested_by": who,
	"context": {"revision": "sha256:abc", "diff": {"roles_granted": [{"identity": "dave", "role": "finance"}]}},
})

test_directory_change_needs_two_from_ops_and_security if {
	d := directory_change("bob")
	d.outcome == "needs_approval"
	d.required_approvals == 2
	d.approver_roles == ["ops", "security"]
	d.risk == "high"
	d.notify == ["ops", "security"]
	[r.code | some r in d.reasons] == ["directory_change"]
}

test_directory_change_is_never_bypassed_nor_broken_glass if {
	d := directory_change("carol")
	d.outcome == "needs_approval"
	d.required_approvals == 2
	e := decide({"action_type": "directory_change", "requested_by": "carol", "context": {"revision": "sha256:abc", "break_glass": true}})
	e.outcome == "needs_approval"
	[r.code | some r in e.reasons] == ["directory_change"]
}

# --- reminders and escalation ------------------------------------------------------------------

test_follow_ups_by_action_type_first if {
	r := decision.result with input as {"action_type": "deploy", "requested_by": "ci-pipeline", "context": {"environment": "production"}}
	r.outcome == "needs_approval"
	r.remind_after_seconds == 900
	r.escalate_after_seconds == 1800
	r.escalate_to == {"roles": ["admin"], "people": []}
	r.escalation_extends_seconds == 1800
}

test_follow_ups_by_risk if {
	r := decision.result with input as {"action_type": "payment", "requested_by": "billing-job", "context": {"amount": 5000}}
	r.risk == "high"
	r.remind_after_seconds == 1800
	not r.escalate_after_seconds
}

test_no_follow_ups_unless_people_decide if {
	r := decision.result with input as {"action_type": "payment", "requested_by": "billing-job", "context": {"amount": 5}}
	r.outcome == "auto_approve"
	not r.remind_after_seconds
	denied := decision.result with input as {"action_type": "payment", "requested_by": "billing-job", "context": {"amount": 5000000}}
	denied.outcome == "deny"
	not denied.remind_after_seconds
}

test_only_known_follow_up_keys_pass if {
	r := decision.result with input as {"action_type": "deploy", "requested_by": "ci-pipeline", "context": {"environment": "production"}}
		with data.countersign.follow_ups as {"by_action_type": {"deploy": {"remind_after_seconds": 60, "approver_roles": ["nobody"]}}, "by_risk": {}}
	r.remind_after_seconds == 60
	r.approver_roles == ["ops"]
}
