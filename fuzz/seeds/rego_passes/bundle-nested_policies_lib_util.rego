# Helpers shared by the HTTP policies.
package nested.lib

import rego.v1

# The endpoint configuration for a request path, matching "{id}" segments.
endpoint(path) := cfg if {
	some pattern, cfg in data.nested.config.endpoints
	glob.match(replace(pattern, "{id}", "*"), ["/"], path)
}

# Every scope the endpoint needs is granted.
has_scopes(required, granted) if {
	every s in required {
		s in granted
	}
}

is_admin(user) if user in data.nested.config.admins
