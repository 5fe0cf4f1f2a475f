#!/usr/bin/env python3
"""Write the seed corpora fuzz/seeds/<target>/ from testdata/ (deterministic: run it again and
the files come out byte for byte the same; `git diff` shows any change).

    python3 fuzz/gen_seeds.py

bundle_tar_gz  every bundle of testdata/bundles and every golden case's input directory, as
               .tar.gz (mode byte 0), as plain tar (mode 1: the target gzips it) and split
               into two gzip members (mode 3), plus hand-made archives for the tar corner
               cases (PAX and GNU long names, ustar prefix, directories, links, a manifest
               with roots, a delta bundle, data.yaml)
json_data      every data.json / .manifest / data.yaml under testdata, and small edge cases
rego_passes    every golden case as one input (its data, then its modules: see the target),
               and every .rego of testdata/bundles
rego_generated deterministic pseudo-random bytes (the input is decoded by `arbitrary`)
signatures     .signatures.json files for the target's bundle (a valid HS256 one and broken
               variants), structured documents from testdata, and a few files to sign
"""

import gzip
import hashlib
import io
import os
import random
import shutil
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "testdata")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
# Inputs larger than this are left out (the targets' -max_len in .ci/fuzz).
MAX_SEED = {"bundle_tar_gz": 256 << 10, "json_data": 64 << 10, "rego_passes": 16 << 10}


def files_under(d):
    out = []
    for base, dirs, names in os.walk(d):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(base, n)
            out.append((os.path.relpath(full, d).replace(os.sep, "/"), full))
    return out


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT, prefix="/", dirs=False):
    """entries: [(name, bytes)] or (name, None, type) for non-files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        seen = set()
        for e in entries:
            name, data = e[0], e[1]
            if dirs and "/" in name:
                parts = name.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    if d not in seen:
                        seen.add(d)
                        ti = tarfile.TarInfo(prefix + d + "/")
                        ti.type = tarfile.DIRTYPE
                        ti.mode = 0o755
                        t.addfile(ti)
            ti = tarfile.TarInfo(prefix + name)
            if len(e) > 2:
                ti.type = e[2]
                ti.linkname = "target"
                t.addfile(ti)
                continue
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def write(target, name, data):
    if len(data) > MAX_SEED.get(target, 1 << 30):
        return
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def bundle_dirs():
    out = []
    for b in sorted(os.listdir(os.path.join(TESTDATA, "bundles"))):
        out.append(("bundle-" + b, os.path.join(TESTDATA, "bundles", b)))
    for g in sorted(os.listdir(os.path.join(TESTDATA, "golden"))):
        out.append(("golden-" + g, os.path.join(TESTDATA, "golden", g, "input")))
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def bundle_seeds():
    t = "bundle_tar_gz"
    for name, d in bundle_dirs():
        entries = [(rel, read(full)) for rel, full in files_under(d)]
        tar = tar_bytes(entries, dirs=True)
        write(t, name + ".tar.gz", b"\x00" + gz(tar))
        write(t, name + ".tar", b"\x01" + tar)
        write(t, name + ".split", b"\x03\x80" + tar)
    # Corner cases of the tar layer, small modules and data so mutations stay cheap.
    data = b'{"rules": {"k": "v", "1": 1}}'
    mod = b"package t\n\nr := object.get(data.rules, input.key, \"d\")\n"
    cases = {
        "pax-long-name": tar_bytes([("a/" + "x" * 120 + "/data.json", b'{"y": 2}'),
                                    ("p.rego", mod)], fmt=tarfile.PAX_FORMAT),
        "gnu-long-name": tar_bytes([("b/" + "y" * 150 + "/data.json", b"[1,2]"),
                                    ("data.json", data)], fmt=tarfile.GNU_FORMAT),
        "ustar-prefix": tar_bytes([("c/" + "z" * 90 + "/" + "w" * 40 + "/data.json", b"1")],
                                  fmt=tarfile.USTAR_FORMAT, prefix=""),
        "manifest-roots": tar_bytes([(".manifest", b'{"roots": ["rules", "t"], "rego_version": 1}'),
                                     ("data.json", data), ("t/p.rego", mod)], prefix="./"),
        "manifest-v0-files": tar_bytes([
            (".manifest", b'{"rego_version": 1, "file_rego_versions": {"/v0/*.rego": 0}}'),
            ("v0/p.rego", b"package v0\n\nr = x { x := data.rules[input.key] }\n"),
            ("data.json", data)]),
        "delta": tar_bytes([(".manifest", b'{"roots": ["rules"]}'),
                            ("patch.json", b'{"data": [{"op": "upsert", "path": "/rules/k", "value": 1}]}')]),
        "yaml": tar_bytes([("rules/data.yaml", b"k: v\n'1': [1, 2]\nn: null\n"), ("p.rego", mod)]),
        "signed": tar_bytes([("data.json", data),
                             (".signatures.json", b'{"signatures": ["eyJhbGciOiJSUzI1NiJ9.e30.c2ln"]}')]),
        "symlink": tar_bytes([("data.json", data), ("link", None, tarfile.SYMTYPE)]),
        "dirs-only": tar_bytes([("a/b/data.json", b"{}")], dirs=True),
    }
    for name, tar in cases.items():
        write(t, name + ".tar.gz", b"\x00" + gz(tar))
        write(t, name + ".tar", b"\x01" + tar)


def json_seeds():
    t = "json_data"
    for rel, full in files_under(TESTDATA):
        base = os.path.basename(rel)
        if base in ("data.json", ".manifest", "data.yaml", "data.yml"):
            write(t, rel.replace("/", "_"), read(full))
    edge = {
        "escapes.json": rb'{"a\u0062": "\ud83d\ude00 \u00e9 \"q\" \\ \/ \b\f\n\r\t", "ab": 1}',
        "surrogate.json": rb'["\ud800", "\udc00x", "\ud83d"]',
        "duplicates.json": b'{"k": 1, "j": [], "k": {"k": 2, "k": 3}}',
        "numbers.json": b"[0, -0, 1.5e10, -1E-7, 12345678901234567890123, 0.1e+2]",
        "deep.json": b"[" * 200 + b"]" * 200,
        "deep-obj.json": b'{"a":' * 150 + b"1" + b"}" * 150,
        "ws.json": b' \t\r\n{ "a" : [ true , false , null ] } \n',
        "bom.json": b"\xef\xbb\xbf{}",
        "unsorted.json": b'{"b": {"z": 1, "a": 2}, "a": ["<>&", "\\u2028"]}',
        "anchors.yaml": b"a: &x [1, 2]\nb: *x\nc: {d: !!str 3, 5: e, ~: f, true: g}\n",
        "multi.yaml": b"- 1\n- 0x1F\n- 1e3\n- .inf\n- 'x'\n- |\n  text\n",
    }
    for name, data in edge.items():
        write(t, name, data)


def rego_seeds():
    t = "rego_passes"
    for g in sorted(os.listdir(os.path.join(TESTDATA, "golden"))):
        d = os.path.join(TESTDATA, "golden", g, "input")
        parts = []
        data = os.path.join(d, "data.json")
        if os.path.exists(data):
            parts.append(read(data).decode())
        for rel, full in files_under(d):
            if rel.endswith(".rego"):
                text = read(full).decode()
                if "v0" in g:
                    text = "# v0\n" + text
                parts.append(text)
        write(t, "golden-" + g + ".txt", "\n#---\n".join(parts).encode())
    for rel, full in files_under(os.path.join(TESTDATA, "bundles")):
        if rel.endswith(".rego"):
            write(t, "bundle-" + rel.replace("/", "_"), read(full))


def generated_seeds():
    t = "rego_generated"
    rng = random.Random(6)
    for i in range(48):
        n = rng.choice([16, 32, 64, 128])
        write(t, "random-%02d" % i, bytes(rng.randrange(256) for _ in range(n)))


def b64url(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def signature_seeds():
    """Mode 0: .signatures.json for the target's fixed bundle (HS256 with its secret: a valid
    one, then variants); mode 1: structured documents; mode 2: a few files to sign."""
    import hmac
    import json
    t = "signatures"
    secret = b"regopt-fuzz-hmac-secret"
    data = {"rules": {"k": "v", "1": 1}}
    canon = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    rego = b"package p\n\nr := data.rules[input.key]\n"
    files = [{"name": "data.json", "hash": hashlib.sha256(canon).hexdigest(), "algorithm": "SHA-256"},
             {"name": "p.rego", "hash": hashlib.sha256(rego).hexdigest(), "algorithm": "SHA-256"}]

    def token(header, payload, key=secret):
        si = b64url(json.dumps(header).encode()) + b"." + b64url(json.dumps(payload).encode())
        return (si + b"." + b64url(hmac.new(key, si, hashlib.sha256).digest())).decode()

    variants = {
        "valid": token({"alg": "HS256"}, {"files": files}),
        "kid-scope": token({"alg": "HS256", "kid": "k1"}, {"files": files, "keyid": "k1", "scope": "write"}),
        "wrong-key": token({"alg": "HS256"}, {"files": files}, key=b"other"),
        "missing-file": token({"alg": "HS256"}, {"files": files[:1]}),
        "sha512": token({"alg": "HS256"}, {"files": [dict(f, algorithm="SHA-512") for f in files]}),
        "rs256-unsigned": b64url(b'{"alg":"RS256"}').decode() + "." + b64url(json.dumps({"files": files}).encode()).decode() + ".AAAA",
    }
    for name, tok in variants.items():
        write(t, "verify-" + name + ".json", b"\x00\x00" + json.dumps({"signatures": [tok]}).encode())
    write(t, "verify-plugin.json", b'\x00\x00{"signatures": ["a.b.c"], "plugin": "x"}')
    for rel, full in files_under(TESTDATA):
        base = os.path.basename(rel)
        if base in ("data.yaml", ".manifest") or (base == "data.json" and os.path.getsize(full) < 4096):
            write(t, "doc-" + rel.replace("/", "_"), b"\x01" + read(full))
    for name, doc in {
        "yaml-merge": b"base: &b {x: 1, y: [a, b]}\nderived:\n  <<: *b\n  y: 2\n",
        "yaml-types": b"a: 0o17\nb: 1_000\nc: 2001-12-14t21:59:43.10-05:00\nd: !!binary aGVsbG8=\ne: ~\nf: .NaN\ng: yes\n",
        "yaml-multi": b"--- 1\n--- 2\n",
        "json-escapes": b'{"b": "<&>", "a": "\\u00e9"}',
    }.items():
        write(t, "doc-" + name, b"\x01" + doc)
    write(t, "sign-two-files", b"\x02" + bytes([1, 9]) + b"data.json" + bytes([5]) + b'{"a":1}' + bytes([4]) + b"p.rego")


def main():
    if os.path.isdir(SEEDS):
        shutil.rmtree(SEEDS)
    bundle_seeds()
    json_seeds()
    rego_seeds()
    generated_seeds()
    signature_seeds()
    total = 0
    for target in sorted(os.listdir(SEEDS)):
        fs = os.listdir(os.path.join(SEEDS, target))
        size = sum(os.path.getsize(os.path.join(SEEDS, target, f)) for f in fs)
        total += size
        print("%-16s %4d files %8d bytes" % (target, len(fs), size))
    print("%-16s %4s       %8d bytes" % ("total", "", total))


if __name__ == "__main__":
    main()
