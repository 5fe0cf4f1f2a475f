package authz

# The caller's user record, found by scanning all users.
user_record contains u if {
	name := __regopt_str_de825f34(input.user)
	u := data.users[name]
}

# Same scan with the comparison reversed and a statement in between.
active if {
	wanted := lower(input.user)
	name := __regopt_str_de825f34(wanted)
	u := data.users[name]
	u.active == true
}

# Role lookup via `some` + reference iteration.
role := r if {
	name := __regopt_str_de825f34(input.user)
	r := data.users[name].role
}

# The user's permissions: reference iteration with an implicit key variable.
perms contains p if {
	role_name := __regopt_str_de825f34(input.role)
	rec := data.roles[role_name]
	some p in rec.perms
}

# Known roles, membership only.
known_role if {
	name := __regopt_str_de825f34(input.role)
	_ = data.roles[name]
}

# Key index form and membership form.
known_user if __regopt_has_users_c017c63e(input.user)

known_any_user if __regopt_has_users_c017c63e(input.users[_])

member_user if __regopt_has_users_c017c63e(input.user)

# In a comprehension, and in a function with an else.
levels := [l | r := __regopt_str_de825f34(input.role); spec := data.roles[r]; l := spec.level]

level_of(r) := spec.level if {
	name := __regopt_str_de825f34(r)
	spec := data.roles[name]
} else := -1

my_level := level_of(input.role)

# Not rewritten: the key is tested with startswith, not ==.
prefixed contains name if {
	some name, _ in data.users
	startswith(name, "a")
	name == input.user
}

__regopt_str_de825f34(__regopt_x) := __regopt_x if {
	is_string(__regopt_x)
}

# regopt scan-to-lookup: e in object.keys(data.users) without building the key set
__regopt_has_users_c017c63e(__regopt_k) := true if {
	is_string(__regopt_k)
	_ = data.users[__regopt_k]
} else := false if {
	true
}
