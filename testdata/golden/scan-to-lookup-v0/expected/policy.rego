package v0scan

import future.keywords.in

user_record[u] {
	name := __regopt_str_de825f34(input.user)
	u := data.users[name]
}

role = r {
	name := __regopt_str_de825f34(input.user)
	r := data.users[name].role
}

known_role {
	__regopt_has_roles_c03bbb07(input.role)
}

levels = [l | r := __regopt_str_de825f34(input.role); spec := data.roles[r]; l := spec.level]

__regopt_str_de825f34(__regopt_x) = __regopt_x {
	is_string(__regopt_x)
}

# regopt scan-to-lookup: e in object.keys(data.roles) without building the key set
__regopt_has_roles_c03bbb07(__regopt_k) = true {
	is_string(__regopt_k)
	_ = data.roles[__regopt_k]
} else = false {
	true
}
