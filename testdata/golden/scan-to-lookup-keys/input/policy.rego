package keys

# Known user?
known if input.key in object.keys(data.rules)

unknown if not input.key in object.keys(data.rules)
