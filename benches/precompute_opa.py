#!/usr/bin/env python3
"""Real-OPA latency of the two patterns `precompute` targets, before and after regopt.

    python3 benches/precompute_opa.py OUTDIR [--rules 120000] [--users 20000]

Writes OUTDIR/{compr,admins}/{original,optimized}/ and OUTDIR/inputs.jsonl, optimizes each
original with `regopt optimize -e bench/r`, then prints the commands to time them with
tests/oracle/opa_driver.py bench (run them yourself: the originals take ~0.5 s per eval).
"""
import json
import os
import random
import subprocess
import sys

POLICIES = {
    "compr": """package bench

r if {
	idx := {k: v | some k, v in data.rules}
	idx[input.key].enabled == true
}
""",
    "admins": """package bench

admins := {u.name | some u in data.users; u.role == "admin"}

r if input.user in admins
""",
}


def main():
    out = sys.argv[1]
    n_rules = int(sys.argv[sys.argv.index("--rules") + 1]) if "--rules" in sys.argv else 120000
    n_users = int(sys.argv[sys.argv.index("--users") + 1]) if "--users" in sys.argv else 20000
    rng = random.Random(7)
    rules = {
        f"rule-{i:06d}": {
            "enabled": rng.random() < 0.7,
            "owner": f"team-{rng.randrange(500)}",
            "actions": ["read", "write"][: rng.randrange(1, 3)],
            "priority": rng.randrange(100),
        }
        for i in range(n_rules)
    }
    users = [
        {"name": f"user-{i:06d}", "role": "admin" if i % 50 == 0 else "dev"}
        for i in range(n_users)
    ]
    data = json.dumps({"rules": rules, "users": users}, indent=1)
    regopt = os.environ.get("REGOPT", "/work/main/target/release/regopt")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "inputs.jsonl"), "w") as f:
        for i in range(50):
            k = f"rule-{rng.randrange(n_rules):06d}" if i < 40 else f"missing-{i}"
            u = f"user-{rng.randrange(n_users):06d}" if i % 2 else f"user-{50 * rng.randrange(n_users // 50):06d}"
            f.write(json.dumps({"key": k, "user": u}) + "\n")
    for name, pol in POLICIES.items():
        orig = os.path.join(out, name, "original")
        os.makedirs(orig, exist_ok=True)
        with open(os.path.join(orig, "data.json"), "w") as f:
            f.write(data)
        with open(os.path.join(orig, "policy.rego"), "w") as f:
            f.write(pol)
        opt = os.path.join(out, name, "optimized")
        subprocess.run([regopt, "optimize", orig, "-o", opt, "-e", "bench/r"], check=True)
        print(f"python3 tests/oracle/opa_driver.py bench --query data.bench.r "
              f"--inputs {out}/inputs.jsonl --warmup 3 --iterations 20 "
              f"original={orig} optimized={opt}")
    print(f"data.json: {len(data) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
