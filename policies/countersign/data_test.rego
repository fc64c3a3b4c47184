# Guards on data.json: ops edit it by hand, and a wrong type would silently change decisions
# (in Rego a number compared with a string is not an error).
package countersign.data_test

# Who holds which role is the directory file's (DIRECTORY_FILE), put at data.directory by the
# policy service. A list of people here would be a second, stale directory.
test_no_directory_in_policy_data if {
	not data.countersign.directory
	not data.directory
}

test_operator_roles if {
	data.countersign.operator_roles == ["admin"]
}

test_thresholds_are_numbers if {
	every name in [
		"payment_amount", "dual_approval_amount", "max_amount", "bulk_items",
		"risk_high_amount", "risk_medium_amount", "max_timeout_seconds",
	] {
		is_number(data.countersign.thresholds[name])
	}
}

test_threshold_values if {
	data.countersign.thresholds == {
		"payment_amount": 500,
		"dual_approval_amount": 10000,
		"max_amount": 1000000,
		"bulk_items": 100,
		"risk_high_amount": 1000,
		"risk_medium_amount": 100,
		"max_timeout_seconds": 604800,
	}
}

test_approval_counts_are_positive_integers if {
	every n in [data.countersign.approvals.default, data.countersign.approvals.dual] {
		is_number(n)
		n >= 1
		floor(n) == n
	}
}

test_timeouts_are_positive_integers if {
	t := data.countersign.timeouts
	every n in array.concat([t.money, t.delete, t.default], [v | some v in t.by_action_type]) {
		is_number(n)
		n >= 1
		n <= data.countersign.thresholds.max_timeout_seconds
		floor(n) == n
	}
}

# Action lists are matched against the lower-cased action type.
test_action_lists_are_lower_case_strings if {
	every a in array.concat(data.countersign.money_actions, data.countersign.sensitive_actions) {
		is_string(a)
		lower(a) == a
	}
}

# Every rule that asks a human names at least one approver role.
test_every_needs_approval_rule_names_roles if {
	every code in [
		"amount_threshold", "high_value", "production_environment",
		"bulk_operation", "delete_operation", "sensitive_action",
		"missing_amount", "unknown_currency", "unknown_environment",
	] {
		count(data.countersign.approver_roles_by_reason[code]) > 0
	}
}

test_role_and_channel_lists_are_string_arrays if {
	lists := array.concat(
		array.concat(
			[v | some v in data.countersign.approver_roles_by_reason],
			[v | some v in data.countersign.approver_roles_by_action_type],
		),
		array.concat(
			[v | some v in data.countersign.notify_by_reason],
			[data.countersign.bypass_roles, data.countersign.operator_roles],
		),
	)
	every l in lists {
		is_array(l)
		every x in l {
			is_string(x)
		}
	}
}

# Fail closed: these aliases are production, whatever else changes.
test_production_aliases if {
	every alias in ["production", "prod", "prd", "live"] {
		alias in data.countersign.environments.production
	}
}

# Environment names are compared lower-cased and trimmed; a name in both lists would be
# ambiguous.
test_environment_lists_are_lower_case_and_disjoint if {
	e := data.countersign.environments
	every name in array.concat(e.production, e.non_production) {
		is_string(name)
		lower(trim_space(name)) == name
		name != ""
	}
	count({n | some n in e.production} & {n | some n in e.non_production}) == 0
}

# Currencies are compared upper-cased and trimmed; the default one must be known.
test_currencies if {
	every c in data.countersign.currencies {
		is_string(c)
		upper(trim_space(c)) == c
		c != ""
	}
	data.countersign.default_currency in data.countersign.currencies
}
