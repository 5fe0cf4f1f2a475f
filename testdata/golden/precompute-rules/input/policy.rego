package authz

# METADATA
# entrypoint: true
allow if input.user in admins

allow if {
	idx := {k: v | some k, v in data.rules}
	idx[input.rule].level >= 2
}

allow if {
	owners := {r.owner | some r in data.rules}
	input.user in owners
}

admins := {u.name | some u in data.users; u.role == "admin"}

default level := 0

level := 1 if count(data.users) > 5
else := 2 if count(data.users) > 1

names contains u.name if some u in data.users

role[u.name] := u.role if some u in data.users

default any_admin := false

any_admin if {
	some u in data.users
	u.role == "admin"
}

# declined: reads input
mine := [u | some u in data.users; u.name == input.user]

# declined: not on the allowlist
stamp := time.now_ns()

greeting := sprintf("%d users", [count(data.users)])
