package keys

# Known user?
known if __regopt_has_rules_12312536(input.key)

unknown if not __regopt_has_rules_12312536(input.key)

# regopt scan-to-lookup: e in object.keys(data.rules) without building the key set
__regopt_has_rules_12312536(__regopt_k) := true if {
	is_object(data.rules)
	is_string(__regopt_k)
	_ = data.rules[__regopt_k]
} else := false if {
	is_object(data.rules)
	is_string(__regopt_k)
} else := __regopt_v if {
	__regopt_v := __regopt_k in object.keys(data.rules)
}
