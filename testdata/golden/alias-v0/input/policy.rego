package v0alias

role_record = r {
	roles := data.roles
	r := roles[input.role]
}

admin_level = roles.admin.level {
	roles := data.roles
}

is_active {
	users = data.users
	users[input.user].active == true
}
