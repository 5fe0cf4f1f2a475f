package authz

# The caller's role record.
role_record := r if {
	r := data.roles[__regopt_str_de825f34(input.role)]
}

# Bound key, nested field, literal keys.
level := l if {
	name := input.role
	l := data.roles[__regopt_str_de825f34(name)].level
}

admin_level := data.roles.admin.level if {
	true
}

numeric_role := data.roles["1"] if {
	true
}

# Function argument as the key, with an else.
perms_of(name) := data.roles[__regopt_str_de825f34(name)].perms if {
	true
} else := []

my_perms := perms_of(input.role)

# Inside every and a comprehension.
all_known if {
	every u in input.users {
		data.users[__regopt_str_de825f34(u)]
	}
}

records := [rec | rec := data.users[__regopt_str_de825f34(input.user)]]

# Unification form.
is_active if {
	data.users[__regopt_str_de825f34(input.user)].active == true
}

__regopt_str_de825f34(__regopt_x) := __regopt_x if {
	is_string(__regopt_x)
}
