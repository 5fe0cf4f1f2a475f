package authz

# Per-team limits: a literal path into data.limits.
team_limit := object.get(data.limits, ["teams", "platform"], 0)

# A path whose last document holds false/null values.
audit := object.get(data.limits, ["flags", "audit"], "unset")

tracing := object.get(data.limits, ["flags", "tracing"], "unset")

# A path with a variable step keeps the original call behind the key helper.
user_limit := object.get(data.limits, ["users", input.user], 1)

# The document holding the last step is a number: declined.
nested_default := object.get(data.limits, ["max", "x"], -1)
