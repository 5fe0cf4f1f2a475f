package lib

# Look a key up in a rule table, with a default.
lookup(table, key, default_value) := value if {
	value := table[key]
} else := default_value

# A second layer, as policies often have.
decide(table, key) := lookup(table, key, "deny")

# A whole-table use.
table_size(table) := count(table)
