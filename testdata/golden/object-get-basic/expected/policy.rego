package authz

# Decision for the caller's key; "deny" when no rule exists.
decision := __regopt_get_rules_12312536(input.key, "deny")

# Nested inside a comprehension and a function argument.
decisions := [d | some k in input.keys; d := __regopt_get_rules_12312536(k, "deny")]

upper_decision := upper(__regopt_get_rules_12312536(input.key, "deny"))

# regopt object-get: object.get(data.rules, k, d) without copying the object
__regopt_get_rules_12312536(__regopt_k, __regopt_d) := __regopt_v if {
	is_object(data.rules)
	is_string(__regopt_k)
	__regopt_v := data.rules[__regopt_k]
} else := __regopt_d if {
	is_object(data.rules)
	is_string(__regopt_k)
} else := __regopt_v if {
	__regopt_v := object.get(data.rules, __regopt_k, __regopt_d)
}
