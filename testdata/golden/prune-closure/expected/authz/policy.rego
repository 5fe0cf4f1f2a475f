package authz

import data.lib.roles as r

# Reached from the entrypoint.
default allow := false

allow if {
	some role in data.users[input.user].roles
	r.grants(role, input.action)
}

# Not reached: its data goes.
report := count(data.audit)
