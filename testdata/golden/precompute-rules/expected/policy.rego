package authz

# METADATA
# entrypoint: true
allow if input.user in admins

allow if {
	type_name(data.rules)
	data.rules[__regopt_idx_rules_12312536(input.rule)].level >= 2
}

allow if {
	owners := {__regopt_x | data.__regopt__.pre_dd3d2c999fac5243[__regopt_x]}
	input.user in owners
}

admins := {__regopt_x | data.__regopt__.pre_7a5bbfc600986422[__regopt_x]}

level := data.__regopt__.pre_d4735e3a265e16ee

names contains __regopt_x if data.__regopt__.pre_36562520c800daeb[__regopt_x]

role := data.__regopt__.pre_b6a3976e66475c94

any_admin := true

# declined: reads input
mine := [u | __regopt_i_32ad0042 := data.__regopt__.idx_users_a6518284[input.user][_]; u := data.users[__regopt_i_32ad0042]; u.name == input.user]

# declined: not on the allowlist
stamp := time.now_ns()

greeting := sprintf("%d users", [count(data.users)])

# regopt: an index into data.rules that matches keys as on its value
__regopt_idx_rules_12312536(__regopt_k) := __regopt_k if {
	is_string(__regopt_k)
} else := __regopt_k if {
	not is_object(data.rules)
} else := __regopt_k if {
	object.get(data.rules, [__regopt_k], 0) == object.get(data.rules, [__regopt_k], 1)
}
