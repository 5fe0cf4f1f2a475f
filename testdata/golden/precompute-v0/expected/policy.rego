package authz

allow {
	admins[input.user]
}

allow {
	type_name(data.rules)
	data.rules[__regopt_idx_rules_12312536(input.rule)].level >= 2
}

admins := {__regopt_x | __regopt_x := data.__regopt__.pre_22295b1a8bd156c2[_]}

level := data.__regopt__.pre_d4735e3a265e16ee


# regopt: an index into data.rules that matches keys as on its value
__regopt_idx_rules_12312536(__regopt_k) = __regopt_k {
	is_string(__regopt_k)
} else = __regopt_k {
	not is_object(data.rules)
} else = __regopt_k {
	object.get(data.rules, [__regopt_k], 0) == object.get(data.rules, [__regopt_k], 1)
}
