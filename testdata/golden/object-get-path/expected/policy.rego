package authz

# Per-team limits: a literal path into data.limits.
team_limit := __regopt_get_limits_teams_platform_a771f6d1(0)

# A path whose last document holds false/null values.
audit := __regopt_get_limits_flags_audit_63ef9768("unset")

tracing := __regopt_get_limits_flags_tracing_b902ea9a("unset")

# A path with a variable step keeps the original call behind the key helper.
user_limit := __regopt_get_limits_b098dd10(["users", input.user], 1)

# The document holding the last step is a number: declined.
nested_default := object.get(data.limits, ["max", "x"], -1)

# regopt object-get: object.get(data.limits, ["teams", "platform"], d) without copying the object
__regopt_get_limits_teams_platform_a771f6d1(__regopt_d) := __regopt_v if {
	is_object(data.limits.teams)
	__regopt_v := data.limits.teams.platform
} else := __regopt_d if {
	is_object(data.limits.teams)
} else := __regopt_v if {
	__regopt_v := object.get(data.limits, ["teams", "platform"], __regopt_d)
}

# regopt object-get: object.get(data.limits, ["flags", "audit"], d) without copying the object
__regopt_get_limits_flags_audit_63ef9768(__regopt_d) := __regopt_v if {
	is_object(data.limits.flags)
	__regopt_v := data.limits.flags.audit
} else := __regopt_d if {
	is_object(data.limits.flags)
} else := __regopt_v if {
	__regopt_v := object.get(data.limits, ["flags", "audit"], __regopt_d)
}

# regopt object-get: object.get(data.limits, ["flags", "tracing"], d) without copying the object
__regopt_get_limits_flags_tracing_b902ea9a(__regopt_d) := __regopt_v if {
	is_object(data.limits.flags)
	__regopt_v := data.limits.flags.tracing
} else := __regopt_d if {
	is_object(data.limits.flags)
} else := __regopt_v if {
	__regopt_v := object.get(data.limits, ["flags", "tracing"], __regopt_d)
}

# regopt object-get: object.get(data.limits, k, d) without copying the object
__regopt_get_limits_b098dd10(__regopt_k, __regopt_d) := __regopt_v if {
	is_object(data.limits)
	is_string(__regopt_k)
	__regopt_v := data.limits[__regopt_k]
} else := __regopt_d if {
	is_object(data.limits)
	is_string(__regopt_k)
} else := __regopt_v if {
	__regopt_v := object.get(data.limits, __regopt_k, __regopt_d)
}
