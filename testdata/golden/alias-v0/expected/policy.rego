package v0alias

role_record = r {
	r := data.roles[__regopt_str_de825f34(input.role)]
}

admin_level = data.roles.admin.level {
	true
}

is_active {
	data.users[__regopt_str_de825f34(input.user)].active == true
}

__regopt_str_de825f34(__regopt_x) = __regopt_x {
	is_string(__regopt_x)
}
