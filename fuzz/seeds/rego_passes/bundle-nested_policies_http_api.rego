# HTTP API authorization.
package nested.http

import data.nested.lib

default allow := false

cfg := lib.endpoint(input.path)

method_allowed if input.method in cfg.methods

allow if {
	cfg.public
	method_allowed
}

allow if {
	method_allowed
	lib.has_scopes(cfg.scopes, input.scopes)
	not too_large
}

allow if lib.is_admin(input.user)

too_large if input.body_bytes > data.nested.config.max_body_bytes

# What an admin would see for the same request.
admin_view := v if {
	v := allow with input.user as "root"
}

missing_scopes contains s if {
	some s in cfg.scopes
	not s in input.scopes
}

decision := {"allow": allow, "missing": missing_scopes, "path": input.path}

rate_limit := object.get(cfg, "rate_limit", 0)
