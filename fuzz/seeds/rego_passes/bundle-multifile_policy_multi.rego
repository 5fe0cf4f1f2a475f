# Decisions over data spread across several data files: owners from
# a/data.json, limits from a/b/data.json, teams from x/data.yaml and the
# global settings from the root data.json (key c).
package multi

is_owner if input.user in data.a.owners

limit := data.a.b.limits[input.op]

within_limit if input.count <= limit

team := data.x.teams[input.team]

oncall if team.oncall == true

default allow := false

allow if {
	is_owner
	within_limit
}

allow if {
	oncall
	input.user in team.members
}

# Numbers exactly as the data files write them.
numbers := {
	"quota": data.a.quota,
	"scale": data.a.scale,
	"max": data.c.max,
	"ratio": data.c.ratio,
	"tiers": data.c.tiers,
	"huge": data.a.b.huge,
	"tiny": data.a.b.tiny,
	"exact": data.a.b.exact,
	"budget": team.budget,
}

# Arithmetic on them (OPA prints its own results).
scaled := data.a.quota * data.a.scale

same_big if data.c.max == data.a.b.exact

region := object.get(data.x.override, "region", "none")

retries := data.x.override.retries

flags := data.a.flags

beta_enabled if data.a.flags.beta

legacy_unset if data.a.flags.legacy == null
