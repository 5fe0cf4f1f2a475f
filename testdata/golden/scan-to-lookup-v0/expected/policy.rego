package v0scan

import future.keywords.in

user_record[u] {
	name := __regopt_key_users_c017c63e(input.user)[_]
	u := data.users[name]
}

role = r {
	name := __regopt_key_users_c017c63e(input.user)[_]
	r := data.users[name].role
}

known_role {
	__regopt_haskey_roles_c03bbb07(__regopt_keys_roles_c03bbb07(0), [__regopt_e | __regopt_e := input.role][_])
}

levels = [l | r := __regopt_key_roles_c03bbb07(input.role)[_]; spec := data.roles[r]; l := spec.level]

# regopt scan-to-lookup: the keys of data.users equal to e, looked up directly
__regopt_key_users_c017c63e(__regopt_k) = __regopt_ks {
	is_object(data.users)
	is_string(__regopt_k)
	__regopt_ks := [__regopt_k | _ = data.users[__regopt_k]]
} else = [__regopt_x | _ = data.users[__regopt_x]; __regopt_x == __regopt_k] {
	true
}

# regopt scan-to-lookup: object.keys(data.roles)[_] == e without building the key set
__regopt_haskey_roles_c03bbb07(_, __regopt_k) = true {
	is_object(data.roles)
	is_string(__regopt_k)
	_ = data.roles[__regopt_k]
} else = false {
	is_object(data.roles)
	is_string(__regopt_k)
} else = true {
	object.keys(data.roles)[_] == __regopt_k
}

# regopt scan-to-lookup: fails as object.keys(data.roles) does, without building the key set
__regopt_keys_roles_c03bbb07(_) = true {
	is_object(data.roles)
} else = __regopt_ks {
	__regopt_ks := object.keys(data.roles)
}

# regopt scan-to-lookup: the keys of data.roles equal to e, looked up directly
__regopt_key_roles_c03bbb07(__regopt_k) = __regopt_ks {
	is_object(data.roles)
	is_string(__regopt_k)
	__regopt_ks := [__regopt_k | _ = data.roles[__regopt_k]]
} else = [__regopt_x | _ = data.roles[__regopt_x]; __regopt_x == __regopt_k] {
	true
}
