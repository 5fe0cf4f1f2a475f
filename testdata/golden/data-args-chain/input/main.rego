package main

import data.lib

decision := lib.decide(data.rules, input.key)

size := lib.table_size(data.rules)

allowed if lib.lookup(data.rules, input.key, false) == "allow"
