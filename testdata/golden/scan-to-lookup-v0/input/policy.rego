package v0scan

import future.keywords.in

user_record[u] {
	some name, u in data.users
	name == input.user
}

role = r {
	some name
	r := data.users[name].role
	name == input.user
}

known_role {
	object.keys(data.roles)[_] == input.role
}

levels = [l | some r, spec in data.roles; r == input.role; l := spec.level]
