package authz

# The caller's role record.
role_record := r if {
	type_name(data.roles)
	r := data.roles[__regopt_idx_roles_c03bbb07(input.role)]
}

# Bound key, nested field, literal keys.
level := l if {
	name := input.role
	type_name(data.roles)
	l := data.roles[__regopt_idx_roles_c03bbb07(name)].level
}

admin_level := data.roles.admin.level if {
	type_name(data.roles)
}

numeric_role := data.roles["1"] if {
	type_name(data.roles)
}

# Function argument as the key, with an else.
perms_of(name) := data.roles[__regopt_idx_roles_c03bbb07(name)].perms if {
	type_name(data.roles)
} else := []

my_perms := perms_of(input.role)

# Inside every and a comprehension.
all_known if {
	type_name(data.users)
	every u in input.users {
		data.users[__regopt_idx_users_c017c63e(u)]
	}
}

records := [rec | type_name(data.users); rec := data.users[__regopt_idx_users_c017c63e(input.user)]]

# Unification form.
is_active if {
	type_name(data.users)
	data.users[__regopt_idx_users_c017c63e(input.user)].active == true
}

# regopt: an index into data.roles that matches keys as on its value
__regopt_idx_roles_c03bbb07(__regopt_k) := __regopt_k if {
	is_string(__regopt_k)
} else := __regopt_k if {
	not is_object(data.roles)
} else := __regopt_k if {
	object.get(data.roles, [__regopt_k], 0) == object.get(data.roles, [__regopt_k], 1)
}

# regopt: an index into data.users that matches keys as on its value
__regopt_idx_users_c017c63e(__regopt_k) := __regopt_k if {
	is_string(__regopt_k)
} else := __regopt_k if {
	not is_object(data.users)
} else := __regopt_k if {
	object.get(data.users, [__regopt_k], 0) == object.get(data.users, [__regopt_k], 1)
}
