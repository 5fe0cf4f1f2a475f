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

__regopt_str_de825f34(__regopt_x) = __regopt_x {
	is_string(__regopt_x)
}

# regopt data-args: has_role with argument 1 = data.roles
__regopt_has_role_roles_365bca52(user) {
	data.roles[__regopt_str_de825f34(user)]
}

# regopt data-args: role_of with argument 1 = data.roles
__regopt_role_of_roles_1f4b6c50(user) = r {
	r := data.roles[__regopt_str_de825f34(user)]
}
