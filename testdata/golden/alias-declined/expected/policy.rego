package declined

# Passed to a builtin whole.
role_count := n if {
	roles := data.roles
	n := count(roles)
}

# Iterated.
role_names contains name if {
	roles := data.roles
	roles[name]
}

some_perm contains p if {
	roles := data.roles
	some r in roles
	p := r.perms[_]
}

# Under `not`: OPA would evaluate the string guard outside the negation.
unknown_role if {
	roles := data.roles
	not roles[input.role]
}

# Returned whole.
everything := roles if {
	roles := data.roles
}

# Indexed by a computed key.
upper_role := r if {
	roles := data.roles
	r := roles[lower(input.role)]
}
