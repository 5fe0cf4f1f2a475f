# Authorization for the sample bundle.
#
# A request names a rule by its id (input.rule) and carries the caller's
# roles (input.roles), the requested action (input.action) and, for limit
# checks, an amount (input.amount). The rules live in data.rules, keyed by id.
#
# The lookups below are written the ways policies in the wild write them;
# several of them make OPA touch every rule on every query.
package authz

# The rule named by the request, or {} when there is no such rule.
rule := object.get(data.rules, input.rule, {})

# A helper that is handed the whole rule table: OPA converts every rule of
# data.rules each time it is called.
lookup(rules, id) := rules[id]

selected := lookup(data.rules, input.rule)

# The same lookup written as a scan over every rule.
matching contains r if {
	some k, r in data.rules
	k == input.rule
}

count_matching := count(matching)

# Whether the rule exists, by listing every rule id.
known if input.rule in object.keys(data.rules)

# One of the caller's roles is listed by the rule.
role_matches if {
	some role in input.roles
	role in rule.roles
}

default allow := false

# Allow when the rule exists, is enabled, covers the requested action and
# lists one of the caller's roles.
allow if {
	known
	selected.enabled
	selected.action == input.action
	role_matches
}

# Limits hold integers beyond 64 bits: they must survive exactly.
limit := rule.limit

within_limit if input.amount <= rule.limit

# Arithmetic on the limit: a non-number amount is an evaluation error.
remaining := rule.limit - input.amount

reasons contains "unknown rule" if not known

reasons contains "rule disabled" if {
	known
	not selected.enabled
}

reasons contains "action not covered" if {
	known
	selected.action != input.action
}

reasons contains "no matching role" if {
	known
	not role_matches
}

# Rules guarded by office-hours conditions.
needs_mfa if rule.conditions.mfa == true

decision := {
	"allow": allow,
	"reasons": reasons,
	"limit": object.get(rule, "limit", null),
	"mfa": needs_mfa,
} if {
	needs_mfa
} else := {
	"allow": allow,
	"reasons": reasons,
	"limit": object.get(rule, "limit", null),
}
