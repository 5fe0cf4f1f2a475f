package authz

# The caller's user record, found by scanning all users.
user_record contains u if {
	some name, u in data.users
	name == input.user
}

# Same scan with the comparison reversed and a statement in between.
active if {
	some name, u in data.users
	wanted := lower(input.user)
	wanted == name
	u.active == true
}

# Role lookup via `some` + reference iteration.
role := r if {
	some name
	r := data.users[name].role
	name == input.user
}

# The user's permissions: reference iteration with an implicit key variable.
perms contains p if {
	rec := data.roles[role_name]
	role_name == input.role
	some p in rec.perms
}

# Known roles, membership only.
known_role if {
	some name, _ in data.roles
	name == input.role
}

# Key index form and membership form.
known_user if object.keys(data.users)[_] == input.user

known_any_user if object.keys(data.users)[_] == input.users[_]

member_user if input.user in object.keys(data.users)

# In a comprehension, and in a function with an else.
levels := [l | some r, spec in data.roles; r == input.role; l := spec.level]

level_of(r) := spec.level if {
	some name, spec in data.roles
	name == r
} else := -1

my_level := level_of(input.role)

# Not rewritten: the key is tested with startswith, not ==.
prefixed contains name if {
	some name, _ in data.users
	startswith(name, "a")
	name == input.user
}
