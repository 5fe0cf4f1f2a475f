package declined

# data.users is an array: keys are numbers, a lookup by string would differ.
by_array contains u if {
	some i, u in data.users
	i == input.user
}

# data.roles is an empty object: the scan never evaluates the compared value.
by_empty contains r if {
	some name, r in data.roles
	name == lower(input.role)
}

# data.groups is a string, data.teams is null, data.missing is absent.
by_string if object.keys(data.groups)[_] == input.role

by_null contains t if {
	some name, t in data.teams
	name == input.role
}

by_absent contains t if {
	some name, t in data.missing
	name == input.role
}
