package authz

# The caller's user record, found by scanning all users.
user_record contains u if {
	name := __regopt_key_users_c017c63e(input.user)[_]
	u := data.users[name]
}

# Same scan with the comparison reversed and a statement in between.
active if {
	__regopt_any_users_c017c63e(0)
	wanted := lower(input.user)
	name := __regopt_key_users_c017c63e(wanted)[_]
	u := data.users[name]
	u.active == true
}

# Role lookup via `some` + reference iteration.
role := r if {
	name := __regopt_key_users_c017c63e(input.user)[_]
	r := data.users[name].role
}

# The user's permissions: reference iteration with an implicit key variable.
perms contains p if {
	role_name := __regopt_key_roles_c03bbb07(input.role)[_]
	rec := data.roles[role_name]
	some p in rec.perms
}

# Known roles, membership only.
known_role if {
	name := __regopt_key_roles_c03bbb07(input.role)[_]
}

# Key index form and membership form.
known_user if __regopt_haskey_users_c017c63e(__regopt_keys_users_c017c63e(0), [__regopt_e | __regopt_e := input.user][_])

known_any_user if __regopt_haskey_users_c017c63e(__regopt_keys_users_c017c63e(0), input.users[_])

member_user if __regopt_has_users_c017c63e(input.user)

# In a comprehension, and in a function with an else.
levels := [l | r := __regopt_key_roles_c03bbb07(input.role)[_]; spec := data.roles[r]; l := spec.level]

level_of(r) := spec.level if {
	name := __regopt_key_roles_c03bbb07(r)[_]
	spec := data.roles[name]
} else := -1

my_level := level_of(input.role)

# Not rewritten: the key is tested with startswith, not ==.
prefixed contains name if {
	some name, _ in data.users
	startswith(name, "a")
	name == input.user
}

# regopt scan-to-lookup: the keys of data.users equal to e, looked up directly
__regopt_key_users_c017c63e(__regopt_k) := __regopt_ks if {
	is_object(data.users)
	is_string(__regopt_k)
	__regopt_ks := [__regopt_k | _ = data.users[__regopt_k]]
} else := [__regopt_x | _ = data.users[__regopt_x]; __regopt_x == __regopt_k]

# regopt scan-to-lookup: a scan of data.users yields a row
__regopt_any_users_c017c63e(_) := true if {
	is_object(data.users)
	count(data.users) > 0
} else := true if {
	_ = data.users[_]
}

# regopt scan-to-lookup: the keys of data.roles equal to e, looked up directly
__regopt_key_roles_c03bbb07(__regopt_k) := __regopt_ks if {
	is_object(data.roles)
	is_string(__regopt_k)
	__regopt_ks := [__regopt_k | _ = data.roles[__regopt_k]]
} else := [__regopt_x | _ = data.roles[__regopt_x]; __regopt_x == __regopt_k]

# regopt scan-to-lookup: object.keys(data.users)[_] == e without building the key set
__regopt_haskey_users_c017c63e(_, __regopt_k) := true if {
	is_object(data.users)
	is_string(__regopt_k)
	_ = data.users[__regopt_k]
} else := false if {
	is_object(data.users)
	is_string(__regopt_k)
} else := true if {
	object.keys(data.users)[_] == __regopt_k
}

# regopt scan-to-lookup: fails as object.keys(data.users) does, without building the key set
__regopt_keys_users_c017c63e(_) := true if {
	is_object(data.users)
} else := __regopt_ks if {
	__regopt_ks := object.keys(data.users)
}

# regopt scan-to-lookup: e in object.keys(data.users) without building the key set
__regopt_has_users_c017c63e(__regopt_k) := true if {
	is_object(data.users)
	is_string(__regopt_k)
	_ = data.users[__regopt_k]
} else := false if {
	is_object(data.users)
	is_string(__regopt_k)
} else := __regopt_v if {
	__regopt_v := __regopt_k in object.keys(data.users)
}
