package keys

# Known user?
known if __regopt_has_rules_12312536(input.key)

unknown if not __regopt_has_rules_12312536(input.key)

# regopt scan-to-lookup: e in object.keys(data.rules) without building the key set
__regopt_has_rules_12312536(__regopt_k) := true if {
	is_string(__regopt_k)
	_ = data.rules[__regopt_k]
} else := false if {
	true
}
