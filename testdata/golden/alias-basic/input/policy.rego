package authz

# The caller's role record.
role_record := r if {
	roles := data.roles
	r := roles[input.role]
}

# Bound key, nested field, literal keys.
level := l if {
	name := input.role
	roles := data.roles
	l := roles[name].level
}

admin_level := roles.admin.level if {
	roles := data.roles
}

numeric_role := roles["1"] if {
	roles := data.roles
}

# Function argument as the key, with an else.
perms_of(name) := roles[name].perms if {
	roles := data.roles
} else := []

my_perms := perms_of(input.role)

# Inside every and a comprehension.
all_known if {
	users := data.users
	every u in input.users {
		users[u]
	}
}

records := [rec | users := data.users; rec := users[input.user]]

# Unification form.
is_active if {
	users = data.users
	users[input.user].active == true
}
