package v0policy

import future.keywords.in

has_role(roles, user) {
	roles[user]
}

role_of(roles, user) = r {
	r := roles[user]
}

allow {
	has_role(data.roles, input.user)
}

role = role_of(data.roles, input.user)
