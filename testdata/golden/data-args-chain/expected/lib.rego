package lib

# Look a key up in a rule table, with a default.
lookup(table, key, default_value) := value if {
	value := table[key]
} else := default_value

# A second layer, as policies often have.
decide(table, key) := lookup(table, key, "deny")

# A whole-table use.
table_size(table) := count(table)

# regopt data-args: decide with argument 1 = data.rules
__regopt_decide_rules_2e0d219a(key) := __regopt_lookup_rules_ec25eda6(key, "deny") if {
	is_object(data.rules)
} else := __regopt_r if {
	not is_object(data.rules)
	__regopt_r := decide(data.rules, key)
}

# regopt data-args: lookup with argument 1 = data.rules
__regopt_lookup_rules_ec25eda6(key, default_value) := value if {
	is_object(data.rules)
	is_string(key)
	value := data.rules[key]
} else := default_value if {
	is_object(data.rules)
	is_string(key)
} else := __regopt_r if {
	not is_object(data.rules)
	__regopt_r := lookup(data.rules, key, default_value)
} else := __regopt_r if {
	is_object(data.rules)
	not is_string(key)
	__regopt_r := lookup(data.rules, key, default_value)
}

# regopt data-args: table_size with argument 1 = data.rules
__regopt_table_size_rules_9dd31033(_) := count(data.rules) if {
	is_object(data.rules)
} else := __regopt_r if {
	not is_object(data.rules)
	__regopt_r := table_size(data.rules)
}
