package lib.roles

grants(role, action) if action in data.perms[role]

unused(x) := data.legacy[x]
