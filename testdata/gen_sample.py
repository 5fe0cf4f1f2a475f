#!/usr/bin/env python3
"""Write testdata/bundles/sample/rules/data.json: ~200 authorization rules
keyed by id, deterministic (no randomness), pretty-printed with indent 2.

The data is shaped to exercise regopt: big integers beyond i64 and u64 that
must keep their exact text, a float written as 1.10, false and null values,
a shared "conditions" subtree repeated under many rules, two rules with
identical contents, and ids with a dot or differing only in case.

Usage: python3 testdata/gen_sample.py   (rewrites the file in place)
"""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "bundles" / "sample" / "rules" / "data.json"

ACTIONS = ["read", "write", "delete", "list", "approve"]
ROLES = ["admin", "editor", "viewer", "auditor", "billing", "support"]
RESOURCES = ["invoices", "reports", "users", "tickets", "documents"]


class Num:
    """A number written exactly as given (json would print 1.10 as 1.1)."""

    def __init__(self, text):
        self.text = text


def office_hours():
    # the same subtree under many rules: a target for data deduplication
    return {"mfa": True, "networks": ["10.0.0.0/8", "192.168.0.0/16"],
            "hours": {"from": 8, "to": 18}, "weekdays_only": True}


def rule(i):
    roles = sorted({ROLES[(i * j * 5 + j) % len(ROLES)] for j in range(1, 2 + i % 3)})
    entry = {
        "action": ACTIONS[(i * 7) % len(ACTIONS)],
        "resource": RESOURCES[(i * 11) % len(RESOURCES)],
        "roles": roles,
        "enabled": i % 9 != 0,
        "limit": 12345678901234567890 if i % 4 == 0 else 1000 * i,
        "priority": i % 10,
        "weight": Num("1.10") if i % 6 == 0 else Num(f"0.{i % 10}5"),
        "expires": None if i % 5 else f"2026-{1 + i % 12:02d}-28",
    }
    if i % 5 == 0:
        entry["conditions"] = office_hours()
    return entry


def rules():
    out = {f"rule-{i:03d}": rule(i) for i in range(1, 199)}
    out["rule-110"] = rule(10)  # identical to rule-010: a duplicated subtree
    out["legacy.rule"] = {"action": "read", "resource": "reports", "roles": ["viewer"],
                          "enabled": True, "limit": Num("1E2"), "priority": 0,
                          "weight": Num("1.0"), "expires": None}
    out["Rule-001"] = {"action": "delete", "resource": "users", "roles": ["admin"],
                       "enabled": False, "limit": 99999999999999999999999999999, "priority": 9,
                       "weight": Num("2.50"), "expires": "2024-01-01"}
    return out


def dump(value, indent=0):
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, Num):
        return value.text
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + dump(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value)


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dump(rules()) + "\n")
    print(f"wrote {OUT} ({len(rules())} rules)")
