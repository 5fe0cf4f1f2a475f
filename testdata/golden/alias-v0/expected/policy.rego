package v0alias

role_record = r {
	type_name(data.roles)
	r := data.roles[__regopt_idx_roles_c03bbb07(input.role)]
}

admin_level = data.roles.admin.level {
	type_name(data.roles)
}

is_active {
	type_name(data.users)
	data.users[__regopt_idx_users_c017c63e(input.user)].active == true
}

# regopt: an index into data.roles that matches keys as on its value
__regopt_idx_roles_c03bbb07(__regopt_k) = __regopt_k {
	is_string(__regopt_k)
} else = __regopt_k {
	not is_object(data.roles)
} else = __regopt_k {
	object.get(data.roles, [__regopt_k], 0) == object.get(data.roles, [__regopt_k], 1)
}

# regopt: an index into data.users that matches keys as on its value
__regopt_idx_users_c017c63e(__regopt_k) = __regopt_k {
	is_string(__regopt_k)
} else = __regopt_k {
	not is_object(data.users)
} else = __regopt_k {
	object.get(data.users, [__regopt_k], 0) == object.get(data.users, [__regopt_k], 1)
}
