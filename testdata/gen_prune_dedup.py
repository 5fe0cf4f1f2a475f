#!/usr/bin/env python3
"""Generate a bundle directory for measuring pruning and dedup (docs/passes/prune.md).

    python3 testdata/gen_prune_dedup.py OUT_DIR [--sections N] [--keys K]

Package `authz` (the entrypoint) reads a quarter of `data.sections.*` through dynamic lookups
and a `data.mirror.*` copy of some of them (identical documents: dedup); package `reports`
(not reached from `authz`) reads another quarter; the rest and `data.archive` are read by
nothing. Deterministic (fixed seed).
"""

import argparse
import json
import os
import random


def section(rng, keys, tag):
    return {
        f"{tag}-{i}": {
            "enabled": rng.random() < 0.7,
            "level": rng.randrange(100),
            "owner": f"team-{rng.randrange(50)}",
            "tags": [f"t{rng.randrange(20)}" for _ in range(3)],
        }
        for i in range(keys)
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sections", type=int, default=200)
    ap.add_argument("--keys", type=int, default=300)
    a = ap.parse_args()
    rng = random.Random(7)
    n = a.sections
    sections = {f"s{i}": section(rng, a.keys, f"s{i}") for i in range(n)}
    used = range(0, n // 4)
    reports = range(n // 4, n // 2)
    mirrored = range(0, n // 8)
    data = {
        "sections": sections,
        "mirror": {f"s{i}": sections[f"s{i}"] for i in mirrored},
        "archive": [section(rng, a.keys // 10, f"a{i}") for i in range(n // 4)],
    }
    os.makedirs(os.path.join(a.out, "authz"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "reports"), exist_ok=True)
    with open(os.path.join(a.out, "data.json"), "w") as f:
        json.dump(data, f)
    lines = ["package authz", "", "default allow := false", ""]
    for i in used:
        lines.append(f"allow if data.sections.s{i}[input.key].enabled")
    lines.append("")
    for i in mirrored:
        lines.append(f"level_{i} := data.mirror.s{i}[input.key].level")
    with open(os.path.join(a.out, "authz", "policy.rego"), "w") as f:
        f.write("\n".join(lines) + "\n")
    lines = ["package reports", ""]
    for i in reports:
        lines.append(f"owners contains o if o := data.sections.s{i}[_].owner")
    with open(os.path.join(a.out, "reports", "policy.rego"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
