package authz

decision := object.get(data.rules, input.key, "deny")
