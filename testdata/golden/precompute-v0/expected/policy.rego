package authz

allow {
	admins[input.user]
}

allow {
	idx := {k: v | v := data.rules[k]}
	idx[input.rule].level >= 2
}

admins[u.name] {
	u := data.users[_]
	u.role == "admin"
}

level = 1 {
	count(data.users) > 5
} else = 2 {
	count(data.users) > 1
}

default level = 0
