package v0policy

import future.keywords.in

has_role(roles, user) {
	roles[user]
}

role_of(roles, user) = r {
	r := roles[user]
}

allow {
	__regopt_has_role_roles_365bca52(input.user)
}

role = __regopt_role_of_roles_1f4b6c50(input.user)

# regopt data-args: has_role with argument 1 = data.roles
__regopt_has_role_roles_365bca52(user) {
	is_object(data.roles)
	is_string(user)
	data.roles[user]
} else = __regopt_r {
	not is_object(data.roles)
	__regopt_r := has_role(data.roles, user)
} else = __regopt_r {
	is_object(data.roles)
	not is_string(user)
	__regopt_r := has_role(data.roles, user)
}

# regopt data-args: role_of with argument 1 = data.roles
__regopt_role_of_roles_1f4b6c50(user) = r {
	is_object(data.roles)
	is_string(user)
	r := data.roles[user]
} else = __regopt_r {
	not is_object(data.roles)
	__regopt_r := role_of(data.roles, user)
} else = __regopt_r {
	is_object(data.roles)
	not is_string(user)
	__regopt_r := role_of(data.roles, user)
}
