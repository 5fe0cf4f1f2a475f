package p

eu := data.pricing.eu[input.k].level

# Rewritten to data.pricing.eu: the two documents are identical.
us := data.pricing.eu[input.k].level

us_name := data.pricing.eu[input.k].name

ui := true
