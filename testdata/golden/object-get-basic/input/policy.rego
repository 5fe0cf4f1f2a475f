package authz

# Decision for the caller's key; "deny" when no rule exists.
decision := object.get(data.rules, input.key, "deny")

# Nested inside a comprehension and a function argument.
decisions := [d | some k in input.keys; d := object.get(data.rules, k, "deny")]

upper_decision := upper(object.get(data.rules, input.key, "deny"))
