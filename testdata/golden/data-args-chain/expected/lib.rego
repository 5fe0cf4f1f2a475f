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
__regopt_decide_rules_2e0d219a(key) := __regopt_lookup_rules_ec25eda6(key, "deny")

__regopt_str_2ae726a3(__regopt_x) := __regopt_x if {
	is_string(__regopt_x)
}

# regopt data-args: lookup with argument 1 = data.rules
__regopt_lookup_rules_ec25eda6(key, default_value) := value if {
	value := data.rules[__regopt_str_2ae726a3(key)]
} else := default_value

# regopt data-args: table_size with argument 1 = data.rules
__regopt_table_size_rules_9dd31033(_) := count(data.rules)
