package main

import data.lib

decision := lib.__regopt_decide_rules_2e0d219a(input.key)

size := lib.__regopt_table_size_rules_9dd31033(0)

allowed if lib.__regopt_lookup_rules_ec25eda6(input.key, false) == "allow"
