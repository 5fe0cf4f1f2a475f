#!/usr/bin/env python3
"""regopt's test oracle: evaluate OPA bundles in real OPA and compare decisions.

The engine is OPA v1.20.2 as a Go shared library (libopabridge.so from the
PyPI wheel opa-golib-python-bindings 0.4.4, pinned by sha256 in
install_opa.sh), driven with ctypes. It reads Rego v1 only and runs with
strict builtin errors (a builtin type error is an eval error, not undefined).

Commands:
  compare A B --query Q [--query Q2] --inputs F.jsonl [--json OUT] [--show N]
  batch SPEC.json [--json OUT]
  eval BUNDLE --query Q [--input JSON]
  bench --query Q --inputs F.jsonl [--warmup N] [--iterations N] [--json OUT] NAME=BUNDLE...
  paired --query Q --inputs F.jsonl [--warmup N] [--iterations N] [--json OUT] NAME=BUNDLE...
  check

A bundle is a directory or a .tar.gz. It is read the way OPA's bundle reader
does: every data.json (and data.yaml / data.yml, converted as OPA converts
YAML) is merged in at its directory path, every *.rego file is a module, a
.manifest is decoded and its roots enforced; other files are ignored.

An outcome is a value (the result set: rows compared as a set, object keys
unordered, numbers compared by their text as OPA prints them), undefined, or
an error (code + message, with file.rego:row:col locations cut because
rewriting moves lines). An inputs file holds one JSON document per line; the
line __none__ means "no input document"; empty lines are skipped.

Exit status: 0 everything agrees, 1 some outcome differs, 2 usage or load
error (compare: a bundle that fails to load; batch: a malformed spec).
"""

from __future__ import annotations

import argparse
import ctypes
import decimal
import gc
import hashlib
import importlib.util
import io
import json
import math
import os
import posixpath
import re
import statistics
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEEL_VERSION = "0.4.4"
OPA_VERSION = "v1.20.2"  # the OPA module inside that wheel
NO_INPUT = "__none__"


class UsageError(Exception):
    """Bad arguments or files: exit status 2."""


class BundleError(Exception):
    """A bundle that real OPA would refuse to load or activate."""


# --------------------------------------------------------------------------
# the engine


def cache_dir() -> Path:
    return Path(os.environ.get("REGOPT_OPA_CACHE") or Path.home() / ".cache" / "regopt-opa")


def bindings_dir() -> Path:
    """Directory holding opa_bindings/libopabridge.so; installs it if missing."""
    explicit = os.environ.get("REGOPT_OPA_BINDINGS")
    if explicit:
        return Path(explicit)
    dest = cache_dir() / f"opa-golib-python-bindings-{WHEEL_VERSION}"
    if (dest / "opa_bindings" / "libopabridge.so").is_file():
        return dest
    print("opa_driver: OPA engine not installed, running install_opa.sh", file=sys.stderr)
    run = subprocess.run(["bash", str(HERE / "install_opa.sh")], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHON": sys.executable})
    if run.returncode != 0:
        raise UsageError(f"install_opa.sh failed with exit status {run.returncode}")
    return Path(run.stdout.strip().splitlines()[-1])


_LIB = None


def native_lib():
    """The bridge library with its ctypes signatures, from the wheel's own
    _native.py loaded by file path (the package __init__ needs Python 3.14)."""
    global _LIB
    if _LIB is None:
        native = bindings_dir() / "opa_bindings" / "_native.py"
        spec = importlib.util.spec_from_file_location("_regopt_opa_native", native)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LIB = module.load()
    return _LIB


class OpaError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Engine:
    """One engine handle: data is deep-merged in, modules are parsed when
    added and compiled when the first query is prepared."""

    def __init__(self):
        self.lib = native_lib()
        self.handle = self.lib.OpaNew()

    def close(self):
        if self.handle is not None:
            self.lib.OpaDestroy(self.handle)
            self.handle = None

    def _envelope(self, ptr) -> bytes:
        if not ptr:
            raise OpaError("internal", "native call returned NULL")
        try:
            return ctypes.string_at(ptr)
        finally:
            self.lib.OpaFreeString(ptr)

    def _checked(self, ptr):
        env = json.loads(self._envelope(ptr))
        if env.get("error"):
            raise OpaError(env["error"].get("code", "unknown"), env["error"].get("message", ""))

    def add_data(self, document: bytes):
        """Deep-merge one JSON document (bytes, numbers kept as written) at the root."""
        self._checked(self.lib.OpaAddData(self.handle, b"", document))

    def add_module(self, name: str, source: str):
        self._checked(self.lib.OpaAddPolicy(self.handle, name.encode(), source.encode()))

    def eval_raw(self, query: bytes, input_doc: bytes) -> bytes:
        """One evaluation; input_doc b"" means no input document."""
        return self._envelope(self.lib.OpaEvalQuery(self.handle, query, input_doc, 0, 0))

    def eval(self, query: str, input_doc: bytes) -> Outcome:
        return Outcome.parse(self.eval_raw(query.encode(), input_doc))


# --------------------------------------------------------------------------
# exact JSON


class RawNum:
    """A JSON number kept as its text: 1, 1.0 and 1e0 stay distinct."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def loads_exact(text):
    return json.loads(text, parse_int=RawNum, parse_float=RawNum, parse_constant=_no_constants)


def dumps_exact(value, sort_keys: bool = False) -> str:
    """JSON text with numbers as they were written; booleans never equal
    numbers. With sort_keys the text is canonical (object keys unordered)."""
    if isinstance(value, RawNum):
        return value.text
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else value
        return "{" + ",".join(json.dumps(k) + ":" + dumps_exact(value[k], sort_keys) for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps_exact(v, sort_keys) for v in value) + "]"
    return json.dumps(value)


def canon(value) -> str:
    return dumps_exact(value, sort_keys=True)


# --------------------------------------------------------------------------
# YAML data files, converted as OPA does (util.Unmarshal: valid JSON is read
# as JSON; anything else goes through sigs.k8s.io/yaml, i.e. go-yaml v2's
# YAML 1.1 scalar rules, then encoding/json). PyYAML supplies the parser; the
# plain-scalar resolution and the number formatting below follow go-yaml v2
# and Go, so `yes` is true, `1E2` is 100, a date stays a string and a big
# decimal integer becomes a float64.


class GoUint(int):
    """A YAML integer that only fits Go's uint64."""


class GoBigInt(int):
    """A YAML integer beyond 64 bits (go-yaml returns a *big.Int)."""


_GO_SCALARS = {}
for _words, _value in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    (("", "~", "null", "Null", "NULL"), None),
    ((".nan", ".NaN", ".NAN"), math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    (("-.inf", "-.Inf", "-.INF"), -math.inf),
):
    for _w in _words:
        _GO_SCALARS[_w] = _value

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT_DIGITS = {2: re.compile(r"[01]+"), 8: re.compile(r"[0-7]+"), 10: re.compile(r"[0-9]+"),
               16: re.compile(r"[0-9a-fA-F]+")}


def _go_parse_int(s: str, signed: bool):
    """strconv.ParseInt / ParseUint with base 0 (underscores already removed):
    (value, None), (value, "range") or (None, "syntax")."""
    negative = False
    if s[:1] in ("+", "-"):
        if not signed:
            return None, "syntax"
        negative, s = s[0] == "-", s[1:]
    base = 10
    if len(s) > 1 and s[0] == "0":
        base, s = {"x": (16, s[2:]), "b": (2, s[2:]), "o": (8, s[2:])}.get(s[1].lower(), (8, s[1:]))
    if not s or not _INT_DIGITS[base].fullmatch(s):
        return None, "syntax"
    v = -int(s, base) if negative else int(s, base)
    lo, hi = (-(1 << 63), 1 << 63) if signed else (0, 1 << 64)
    return v, (None if lo <= v < hi else "range")


def go_plain_scalar(s: str):
    """go-yaml v2 resolve() of an untagged plain scalar decoded into interface{}."""
    if s in _GO_SCALARS:
        return _GO_SCALARS[s]
    if s[0] == ".":
        if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", s) and not math.isinf(float(s)):
            return float(s)
        return s
    if s[0] not in "+-0123456789":
        return s
    # (a timestamp is kept as its text when decoding into interface{}; it
    # can never parse as a number either, so it falls through to a string)
    plain = s.replace("_", "")
    v, err = _go_parse_int(plain, signed=True)
    if v is not None and err is None:
        return v
    v, err = _go_parse_int(plain, signed=False)
    if v is not None and err is None:
        return GoUint(v)
    if _YAML_STYLE_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):
        return float(plain)
    if err == "range":  # too big for uint64 but well-formed (e.g. long hex)
        return GoBigInt(v)
    return s


def go_float(f: float) -> str:
    """encoding/json's text for a float64."""
    if math.isinf(f) or math.isnan(f):
        raise BundleError(f"json: unsupported value: {f!r}")
    r = repr(f)
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        return re.sub(r"e-0(\d)$", r"e-\1", r)  # Go cleans e-07 to e-7
    s = format(decimal.Decimal(r), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def go_float_key(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml formats float keys."""
    try:
        f32 = struct.unpack("f", struct.pack("f", f))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, f)
    if math.isinf(f32) or math.isnan(f32):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(f32, ".nan")
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for prec in range(9):
        e_text = f"{f32:.{prec}e}"
        if struct.unpack("f", struct.pack("f", float(e_text)))[0] == f32:
            break
    mantissa, exp = e_text.split("e")
    exp = int(exp)
    if exp < -4 or exp >= 6:
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    digits = len(mantissa.replace("-", "").replace(".", ""))
    return f"{float(mantissa) * 10 ** exp:.{max(0, digits - 1 - exp)}f}"


def go_key(k) -> str:
    """sigs.k8s.io/yaml's conversion of a map key to a JSON object key."""
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, str):
        return k
    if isinstance(k, int) and not isinstance(k, (GoUint, GoBigInt)):
        return str(k)
    if isinstance(k, float):
        return go_float_key(k)
    raise BundleError(f"error converting YAML to JSON: unsupported map key: {k!r}")


def go_json(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bytes):  # !!binary: go-yaml gives the decoded bytes as a string
        return json.dumps(v.decode("utf-8", "replace"))
    if isinstance(v, list):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):  # keys were made strings by go_key while loading
        return "{" + ",".join(json.dumps(k) + ":" + go_json(x) for k, x in v.items()) + "}"
    raise BundleError(f"YAML value of type {type(v).__name__} is not supported by this oracle")


_GO_YAML_LOADER = None


def _go_yaml_loader():
    global _GO_YAML_LOADER
    if _GO_YAML_LOADER is None:
        pylib = str(cache_dir() / "python")  # where install_opa.sh may have put PyYAML
        if os.path.isdir(pylib) and pylib not in sys.path:
            sys.path.append(pylib)
        import yaml  # optional: only bundles with YAML data need it

        class GoYamlLoader(yaml.SafeLoader):
            def resolve(self, kind, value, implicit):
                if kind is yaml.ScalarNode and implicit[0]:
                    return "tag:yaml.org,2002:merge" if value == "<<" else "!go-plain"
                return super().resolve(kind, value, implicit)

            def construct_mapping(self, node, deep=False):
                # keys become JSON keys at once: Python would merge 1 and true
                self.flatten_mapping(node)
                return {go_key(self.construct_object(k, deep=deep)): self.construct_object(v, deep=deep)
                        for k, v in node.value}

        GoYamlLoader.add_constructor("!go-plain", lambda loader, node: go_plain_scalar(node.value))
        _GO_YAML_LOADER = (yaml, GoYamlLoader)
    return _GO_YAML_LOADER


def yaml_to_json(blob: bytes, rel: str) -> bytes:
    if blob.startswith(b"\xef\xbb\xbf"):
        blob = blob[3:]
    try:
        loads_exact(blob)
        return blob  # valid JSON is read as JSON, numbers exact
    except ValueError:
        pass
    try:
        yaml, loader = _go_yaml_loader()
    except ImportError:
        raise BundleError(f"{rel}: reading YAML data needs PyYAML (tests/oracle/install_opa.sh installs it)")
    try:
        doc = next(iter(yaml.load_all(blob, Loader=loader)), None)  # go-yaml reads the first document
        return go_json(doc).encode()
    except yaml.YAMLError as e:
        raise BundleError(f"bundle load failed on {rel}: error converting YAML to JSON: {e}")
    except BundleError as e:
        raise BundleError(f"bundle load failed on {rel}: {e}")


# --------------------------------------------------------------------------
# bundles


def data_path(rel: str) -> list:
    """OPA's rule: the file's directory, leading '/' and '.' characters trimmed."""
    d = posixpath.dirname(rel).lstrip("/.")
    return d.split("/") if d else []


def _merge_into(tree: dict, add: dict) -> bool:
    """OPA's merge.InterfaceMaps: a key present on both sides must be an object on both."""
    for k, v in add.items():
        if k not in tree:
            tree[k] = v
        elif isinstance(tree[k], dict) and isinstance(v, dict):
            if not _merge_into(tree[k], v):
                return False
        else:
            return False
    return True


_PACKAGE = re.compile(
    r'^[ \t]*package[ \t]+([A-Za-z_]\w*(?:[ \t]*(?:\.[ \t]*[A-Za-z_]\w*|\[[ \t]*"(?:[^"\\\n]|\\.)*"[ \t]*\]))*)',
    re.M,
)


def package_path(source: str):
    """The package of a module as a root-style path ('a/b'), or None if not found."""
    stripped = re.sub(r"#[^\n]*", "", source)
    m = _PACKAGE.search(stripped)
    if not m:
        return None
    segs = re.findall(r'[A-Za-z_]\w*|"(?:[^"\\]|\\.)*"', m.group(1))
    return "/".join(json.loads(s) if s.startswith('"') else s for s in segs)


def _root_contains(root: str, path: str) -> bool:
    r, p = root.split("/"), path.split("/")
    return r == [""] or (len(r) <= len(p) and p[: len(r)] == r)


class Bundle:
    """The files of one bundle, sorted into manifest, data and modules."""

    def __init__(self, label: str, files, parse_data: bool = True):
        self.label = label
        self.parse_data = parse_data
        self.manifest = None
        self.data_files = []  # (segments, JSON bytes, rel)
        self.modules = []  # (rel, source)
        self.ignored = []
        self.tree = {}  # merged data, for the roots check (when parse_data)
        for rel, blob in files:
            self._add(rel, blob)

    @classmethod
    def from_path(cls, path, parse_data: bool = True) -> Bundle:
        path = Path(path)
        if path.is_dir():
            files = []
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    p = Path(root) / name
                    if p.is_file():
                        files.append((p.relative_to(path).as_posix(), p.read_bytes()))
        elif path.is_file():
            try:
                with tarfile.open(path, "r:*") as tar:
                    files = []
                    for member in tar.getmembers():
                        if member.isfile():
                            name = member.name
                            while name.startswith(("/", "./")):
                                name = name[1:] if name.startswith("/") else name[2:]
                            files.append((name, tar.extractfile(member).read()))
            except (tarfile.TarError, OSError) as e:
                raise BundleError(f"{path}: not a readable bundle archive: {e}")
        else:
            raise BundleError(f"{path}: no such bundle directory or file")
        return cls(str(path), files, parse_data)

    @classmethod
    def from_spec(cls, label: str, spec: dict) -> Bundle:
        """{"modules": {name: source}, "data": value or null, "files": {rel: text}}"""
        files = [(rel, text.encode()) for rel, text in (spec.get("files") or {}).items()]
        if spec.get("data") is not None:
            files.append(("data.json", dumps_exact(spec["data"]).encode()))
        files += [(name, src.encode()) for name, src in (spec.get("modules") or {}).items()]
        return cls(label, files)

    def _add(self, rel: str, blob: bytes):
        base = posixpath.basename(rel)
        if rel.endswith(".rego"):
            try:
                self.modules.append((rel, blob.decode("utf-8")))
            except UnicodeDecodeError as e:
                raise BundleError(f"{rel}: not UTF-8: {e}")
        elif base in ("data.json", "data.yaml", "data.yml"):
            if base != "data.json":
                blob = yaml_to_json(blob, rel)
            segs = data_path(rel)
            if self.parse_data:
                try:
                    value = loads_exact(blob)
                except ValueError as e:
                    raise BundleError(f"bundle load failed on {rel}: {e}")
                if not segs and not isinstance(value, dict):
                    raise BundleError(f"bundle load failed on {rel}: root value must be object")
                for s in reversed(segs):
                    value = {s: value}
                if not _merge_into(self.tree, value):
                    raise BundleError(f"bundle load failed on {rel}: "
                                      f"failed to insert data file from path {'/'.join(segs)}")
            self.data_files.append((segs, blob, rel))
        elif rel.endswith(".manifest"):
            try:
                manifest = json.loads(blob)
            except ValueError as e:
                raise BundleError(f"bundle load failed on manifest decode: {e}")
            if not isinstance(manifest, dict):
                raise BundleError("bundle load failed on manifest decode: not an object")
            self.manifest = {**(self.manifest or {}), **manifest}
        else:
            self.ignored.append(rel)

    def check_manifest(self):
        """What OPA's Manifest.validateAndInjectDefaults refuses, plus Rego v0
        (this engine parses v1 only)."""
        m = self.manifest or {}
        roots = m.get("roots")
        if roots is not None and not (isinstance(roots, list) and all(isinstance(r, str) for r in roots)):
            raise BundleError("bundle load failed on manifest decode: roots must be an array of strings")
        if m.get("rego_version") == 0 or 0 in (m.get("file_rego_versions") or {}).values():
            raise BundleError("manifest asks for Rego v0; this engine reads Rego v1 only")
        roots = [r.strip("/") for r in (roots if roots is not None else [""])]
        shown = "[" + " ".join(roots) + "]"
        for i, a in enumerate(roots):
            for b in roots[i + 1:]:
                if _root_contains(a, b) or _root_contains(b, a):
                    raise BundleError(f"manifest has overlapped roots: '{a}' and '{b}'")
        for rel, source in self.modules:
            pkg = package_path(source)
            if pkg is not None and not any(_root_contains(r, pkg) for r in roots):
                raise BundleError(f"manifest roots {shown} do not permit "
                                  f"'package {pkg.replace('/', '.')}' in module '{rel}'")
        if self.parse_data:
            self._check_data(self.tree, "", roots, shown)

    def _check_data(self, node, path, roots, shown):
        if any(_root_contains(r, path) for r in roots):
            return
        # OPA descends into an object while any single segment of its path
        # starts some root (RootPathsContain(strings.Split(path, "/"), root))
        if isinstance(node, dict) and any(_root_contains(seg, r) for seg in path.split("/") for r in roots):
            for k in sorted(node):
                self._check_data(node[k], f"{path}/{k}".strip("/"), roots, shown)
            return
        raise BundleError(f"manifest roots {shown} do not permit data at path '/{path}' "
                          "(hint: check bundle directory structure)")

    def load(self, validate: bool = True) -> Engine:
        """A fresh engine with this bundle in it. With validate, bundle
        activation (compiling every module) is forced now, so a broken bundle
        is a BundleError here rather than an error on every evaluation."""
        engine = Engine()
        try:
            for segs, blob, rel in self.data_files:
                # wrap the bytes instead of re-encoding: numbers stay as written
                prefix = "".join("{" + json.dumps(s) + ":" for s in segs).encode()
                try:
                    engine.add_data(prefix + blob + b"}" * len(segs))
                except OpaError as e:
                    raise BundleError(f"{rel}: {e.code}: {e.message}")
            for rel, source in self.modules:
                try:
                    engine.add_module(rel, source)
                except OpaError as e:
                    raise BundleError(e.message)
            if validate:
                self.check_manifest()  # after parsing, as in OPA's reader
                probe = engine.eval("true", b"")
                if probe.kind == "error":
                    raise BundleError(probe.error[1])
        except BaseException:
            engine.close()
            raise
        return engine


# --------------------------------------------------------------------------
# outcomes


_LOCATION = re.compile(r"[^\s:'\"(),\[\]]+\.rego:\d+(?::\d+)?:?[ \t]?")


def strip_locations(message: str) -> str:
    """Cut file.rego:row:col: locations (rewriting moves lines)."""
    return _LOCATION.sub("", message or "")


def normalize_load_error(message: str) -> str:
    """Locations cut, source excerpt lines (tab-indented) dropped, and the
    remaining lines sorted: OPA lists several compile errors in map order,
    which varies from run to run."""
    lines = [ln for ln in (message or "").split("\n") if not ln.startswith("\t")]
    return "\n".join(sorted(strip_locations(ln).strip() for ln in lines if ln.strip()))


class Outcome:
    """kind 'value' (rows: [{"expressions": [...], "bindings": {...}}]),
    'undefined' or 'error' (error = (code, message))."""

    def __init__(self, kind, rows=None, error=None):
        self.kind, self.rows, self.error = kind, rows, error

    @classmethod
    def parse(cls, raw: bytes) -> Outcome:
        env = loads_exact(raw)
        if env.get("error"):
            return cls("error", error=(env["error"].get("code"), env["error"].get("message")))
        rows = [{"expressions": [e.get("value") for e in r.get("expressions") or []],
                 "bindings": r.get("bindings") or {}} for r in env.get("result") or []]
        return cls("value", rows=rows) if rows else cls("undefined")

    def key(self) -> str:
        if self.kind == "undefined":
            return "undefined"
        if self.kind == "error":
            return f"error:{self.error[0]}:{normalize_load_error(self.error[1])}"
        return "value:[" + ",".join(sorted({canon(r) for r in self.rows})) + "]"

    def show(self, limit: int = 4000) -> str:
        if self.kind == "undefined":
            s = "undefined"
        elif self.kind == "error":
            s = f"error {self.error[0]}: {self.error[1]}"
        elif len(self.rows) == 1 and not self.rows[0]["bindings"] and len(self.rows[0]["expressions"]) == 1:
            s = canon(self.rows[0]["expressions"][0])
        else:
            s = "rows " + canon(self.rows)
        return s if len(s) <= limit else s[: limit - 3] + "..."


# --------------------------------------------------------------------------
# comparing


def read_inputs(path) -> list:
    """[(label, input bytes)] from a JSON-lines file."""
    out = []
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as e:
        raise UsageError(f"{path}: {e}")
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if line == NO_INPUT.encode():
            out.append((f"{path}:{n}", b""))
            continue
        try:
            loads_exact(line)
        except ValueError as e:
            raise UsageError(f"{path}:{n}: not JSON: {e}")
        out.append((f"{path}:{n}", line))
    return out


def compare_sides(load_a, load_b, queries, inputs) -> dict:
    """Load both sides (callables returning a Bundle) and compare every
    query x input. A side that fails to load is recorded, not raised."""
    result = {"evaluations": 0, "agree": 0, "differ": 0,
              "outcomes_a": {"value": 0, "undefined": 0, "error": 0},
              "outcomes_b": {"value": 0, "undefined": 0, "error": 0},
              "load_error_a": None, "load_error_b": None, "both_failed_same": False,
              "differences": []}
    engines = {}
    for side, load in (("a", load_a), ("b", load_b)):
        try:
            engines[side] = load().load()
        except (BundleError, OpaError) as e:
            result[f"load_error_{side}"] = str(e)
    try:
        if result["load_error_a"] or result["load_error_b"]:
            ea, eb = result["load_error_a"], result["load_error_b"]
            if ea and eb and normalize_load_error(ea) == normalize_load_error(eb):
                result["both_failed_same"] = True
            else:
                result["differ"] = 1
                result["differences"].append({
                    "query": None, "input": None,
                    "a": f"load error: {ea}" if ea else "loaded",
                    "b": f"load error: {eb}" if eb else "loaded"})
            return result
        for q in queries:
            for label, doc in inputs:
                oa, ob = engines["a"].eval(q, doc), engines["b"].eval(q, doc)
                result["evaluations"] += 1
                result["outcomes_a"][oa.kind] += 1
                result["outcomes_b"][ob.kind] += 1
                if oa.key() == ob.key():
                    result["agree"] += 1
                else:
                    result["differ"] += 1
                    result["differences"].append({
                        "query": q, "input": doc.decode("utf-8", "replace") if doc else NO_INPUT,
                        "where": label, "a": oa.show(), "b": ob.show()})
        return result
    finally:
        for e in engines.values():
            e.close()


def describe_difference(d: dict, width: int = 600) -> str:
    if d["query"] is None:
        return f"bundle loading differs\n  A: {d['a'][:width]}\n  B: {d['b'][:width]}"
    return (f"{d['query']}  input {d['input'][:200]}  ({d.get('where', '')})\n"
            f"  A: {d['a'][:width]}\n  B: {d['b'][:width]}")


def write_json(path, doc):
    if path:
        Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def cmd_compare(ns) -> int:
    inputs = read_inputs(ns.inputs)
    result = compare_sides(lambda: Bundle.from_path(ns.a), lambda: Bundle.from_path(ns.b),
                           ns.query, inputs)
    result.update({"a": str(ns.a), "b": str(ns.b), "queries": ns.query})
    write_json(ns.json, result)
    for side in ("a", "b"):
        if result[f"load_error_{side}"]:
            print(f"{side.upper()} {getattr(ns, side)}: failed to load: {result[f'load_error_{side}']}",
                  file=sys.stderr)
    if result["load_error_a"] or result["load_error_b"]:
        return 2
    print(f"compared {result['evaluations']} evaluations: {result['agree']} agree, "
          f"{result['differ']} differ")
    print(f"  A outcomes: {result['outcomes_a']}  B outcomes: {result['outcomes_b']}")
    for d in result["differences"][: ns.show]:
        print("DIFF " + describe_difference(d))
    if len(result["differences"]) > ns.show:
        print(f"... {len(result['differences']) - ns.show} more differences (--show N, --json OUT)")
    return 1 if result["differ"] else 0


def _spec_side(case_name, side, value, base: Path):
    if isinstance(value, str):
        p = Path(value)
        return lambda: Bundle.from_path(p if p.is_absolute() else base / p)
    if isinstance(value, dict):
        return lambda: Bundle.from_spec(f"{case_name}:{side}", value)
    raise UsageError(f"case {case_name}: '{side}' must be a bundle path or "
                     '{"modules": {...}, "data": ...}')


def _spec_inputs(case_name, values) -> list:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            if v == NO_INPUT:
                out.append((f"input #{i}", b""))
                continue
            try:
                loads_exact(v)
            except ValueError as e:
                raise UsageError(f"case {case_name}: input #{i} is not JSON text: {e}")
            out.append((f"input #{i}", v.encode()))
        else:  # a JSON value written directly in the spec
            out.append((f"input #{i}", dumps_exact(v).encode()))
    return out


def cmd_batch(ns) -> int:
    try:
        spec = loads_exact(Path(ns.spec).read_bytes())
    except (OSError, ValueError) as e:
        raise UsageError(f"{ns.spec}: {e}")
    if not isinstance(spec, dict) or not isinstance(spec.get("cases"), list):
        raise UsageError(f'{ns.spec}: expected {{"cases": [...]}}')
    base = Path.cwd()
    prepared = []
    for i, case in enumerate(spec["cases"]):
        name = case.get("name") or f"case {i}"
        queries = case.get("queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise UsageError(f"case {name}: 'queries' must be a list of strings")
        prepared.append((name, _spec_side(name, "a", case.get("a"), base),
                         _spec_side(name, "b", case.get("b"), base), queries,
                         _spec_inputs(name, case.get("inputs") or [NO_INPUT])))
    results, evaluations, differences = [], 0, 0
    for name, side_a, side_b, queries, inputs in prepared:
        r = {"name": name, **compare_sides(side_a, side_b, queries, inputs)}
        results.append(r)
        evaluations += r["evaluations"]
        differences += r["differ"]
        status = "agree" if not r["differ"] else f"{r['differ']} differ"
        if r.get("both_failed_same"):
            status += " (both fail to load with the same error)"
        print(f"case {name}: {r['evaluations']} evaluations, {status}")
        for d in r["differences"][: ns.show]:
            print("  DIFF " + describe_difference(d).replace("\n", "\n  "))
    print(f"{len(results)} cases, {evaluations} evaluations, {differences} differences")
    write_json(ns.json, {"cases": results, "evaluations": evaluations, "differences": differences})
    return 1 if differences else 0


def cmd_eval(ns) -> int:
    doc = b"" if ns.input == NO_INPUT else ns.input.encode()
    if doc:
        try:
            loads_exact(doc)
        except ValueError as e:
            raise UsageError(f"--input is not JSON: {e}")
    try:
        engine = Bundle.from_path(ns.bundle).load()
    except (BundleError, OpaError) as e:
        print(f"{ns.bundle}: failed to load: {e}", file=sys.stderr)
        return 2
    try:
        for q in ns.query:
            o = engine.eval(q, doc)
            print(f"{q}: {o.show(1 << 20)}" if len(ns.query) > 1 else o.show(1 << 20))
    finally:
        engine.close()
    return 0


def cmd_check(ns) -> int:
    engine = Engine()
    try:
        o = engine.eval("x := 1 + 1", b"")
    finally:
        engine.close()
    if o.kind != "value" or o.rows[0]["bindings"].get("x").text != "2":
        print(f"opa_driver: the engine does not evaluate: {o.show()}", file=sys.stderr)
        return 2
    print(f"OPA {OPA_VERSION} from opa-golib-python-bindings {WHEEL_VERSION}: "
          f"{bindings_dir() / 'opa_bindings' / 'libopabridge.so'}")
    return 0


# --------------------------------------------------------------------------
# bench


def proc_status() -> dict:
    """VmRSS / VmHWM in bytes (Linux; empty elsewhere)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def cmd_bench_child(ns) -> int:
    """One bundle in this (fresh) process; prints one JSON line."""
    inputs = [doc for _, doc in read_inputs(ns.inputs)]
    if not inputs:
        raise UsageError(f"{ns.inputs}: no inputs")
    query = ns.query.encode()
    res = {"bundle": ns.bundle}
    t = time.perf_counter()
    bundle = Bundle.from_path(ns.bundle, parse_data=False)  # no Python copy of the data
    engine = bundle.load(validate=False)
    res["load_s"] = time.perf_counter() - t
    res["data_bytes"] = sum(len(blob) for _, blob, _ in bundle.data_files)
    del bundle
    gc.collect()
    res["mem_after_load"] = proc_status()

    t = time.perf_counter()
    first = Outcome.parse(engine.eval_raw(query, inputs[0]))  # prepares the query
    res["first_eval_ms"] = (time.perf_counter() - t) * 1e3
    if first.kind == "error" and first.error[0] in ("prepare_error", "compile_error"):
        res["fatal"] = f"{first.error[0]}: {first.error[1]}"
        print(json.dumps(res))
        return 0
    # untimed warm-up: one pass over every input (its outcomes, digested, let
    # the parent check that the bundles decide alike), then --warmup more
    digest, kinds = hashlib.sha256(), {"value": 0, "undefined": 0, "error": 0}
    for doc in inputs:
        o = Outcome.parse(engine.eval_raw(query, doc))
        kinds[o.kind] += 1
        digest.update(o.key().encode() + b"\n")
    res["outcomes"], res["outcomes_digest"] = kinds, digest.hexdigest()[:16]
    for i in range(ns.warmup):
        engine.eval_raw(query, inputs[i % len(inputs)])

    lat = []
    for i in range(ns.iterations):
        doc = inputs[i % len(inputs)]
        t0 = time.perf_counter_ns()
        engine.eval_raw(query, doc)
        lat.append(time.perf_counter_ns() - t0)
    lat.sort()
    res["iterations"] = len(lat)
    res["median_ms"] = statistics.median(lat) / 1e6
    res["p99_ms"] = lat[max(0, math.ceil(0.99 * len(lat)) - 1)] / 1e6
    res["mean_ms"] = statistics.fmean(lat) / 1e6
    res["max_ms"] = lat[-1] / 1e6
    res["mem_after_evals"] = proc_status()
    engine.close()
    print(json.dumps(res))
    return 0


def cmd_bench(ns) -> int:
    variants = parse_variants(ns.bundles)
    results = []
    for name, path in variants:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_bench-child", "--query", ns.query,
               "--inputs", str(ns.inputs), "--warmup", str(ns.warmup),
               "--iterations", str(ns.iterations), path]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0 or not run.stdout.strip():
            res = {"fatal": f"child exited {run.returncode}: {run.stderr.strip()[-2000:]}"}
        else:
            res = json.loads(run.stdout.strip().splitlines()[-1])
        res["name"] = name
        res["bundle"] = path
        results.append(res)

    def mib(mem, key):
        return f"{mem[key] / 1048576:.1f}" if mem and key in mem else "-"

    print(f"query {ns.query}, {ns.iterations} timed evals per bundle after {ns.warmup} warm-up")
    print(f"{'bundle':<16} {'load s':>7} {'1st ms':>8} {'median ms':>10} {'p99 ms':>9} "
          f"{'RSS load':>9} {'HWM load':>9} {'HWM evals':>10}  (MiB)")
    for r in results:
        if "fatal" in r:
            print(f"{r['name']:<16} FAILED: {r['fatal']}")
            continue
        print(f"{r['name']:<16} {r['load_s']:>7.2f} {r['first_eval_ms']:>8.1f} {r['median_ms']:>10.3f} "
              f"{r['p99_ms']:>9.3f} {mib(r['mem_after_load'], 'VmRSS'):>9} "
              f"{mib(r['mem_after_load'], 'VmHWM'):>9} {mib(r['mem_after_evals'], 'VmHWM'):>10}")
    digests = {r.get("outcomes_digest") for r in results if "fatal" not in r}
    if len(digests) > 1:
        print("WARNING: the bundles' outcomes on these inputs differ (run compare)")
    write_json(ns.json, {"query": ns.query, "inputs": str(ns.inputs), "warmup": ns.warmup,
                         "iterations": ns.iterations, "results": results})
    return 2 if any("fatal" in r for r in results) else 0


def parse_variants(items) -> list:
    variants = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"expected NAME=BUNDLE, got {item!r}")
        variants.append((name, path))
    return variants


def cmd_paired(ns) -> int:
    """Latency of several bundles measured side by side in one process.

    Every bundle is loaded into its own engine in this process; then each
    timed round evaluates the same input on every engine, starting with a
    different engine each round. All variants thus run under the same Go heap,
    GC cycles and machine load, which makes their *ratios* stable to a few
    per cent, where medians of separate processes differ by up to 30 % for the
    same policy. Absolute figures are higher than in `bench` (the heap holds
    every bundle's data) and memory is not measured here.
    """
    variants = parse_variants(ns.bundles)
    inputs = [doc for _, doc in read_inputs(ns.inputs)]
    if not inputs:
        raise UsageError(f"{ns.inputs}: no inputs")
    query = ns.query.encode()
    engines, results = [], []
    for name, path in variants:
        bundle = Bundle.from_path(path, parse_data=False)
        engines.append(bundle.load(validate=False))
        del bundle
        gc.collect()
        digest = hashlib.sha256()
        for doc in inputs:
            digest.update(Outcome.parse(engines[-1].eval_raw(query, doc)).key().encode() + b"\n")
        results.append({"name": name, "bundle": path, "outcomes_digest": digest.hexdigest()[:16]})
    for e in engines:
        for i in range(ns.warmup):
            e.eval_raw(query, inputs[i % len(inputs)])
    lat = [[] for _ in engines]
    n = len(engines)
    for i in range(ns.iterations):
        doc = inputs[i % len(inputs)]
        for k in range(n):
            j = (i + k) % n
            t0 = time.perf_counter_ns()
            engines[j].eval_raw(query, doc)
            lat[j].append(time.perf_counter_ns() - t0)
    for e in engines:
        e.close()
    for r, l in zip(results, lat):
        l.sort()
        r["iterations"] = len(l)
        r["median_ms"] = statistics.median(l) / 1e6
        r["p99_ms"] = l[max(0, math.ceil(0.99 * len(l)) - 1)] / 1e6
    print(f"query {ns.query}, {ns.iterations} rounds over {n} bundles in one process "
          f"after {ns.warmup} warm-up evals each")
    print(f"{'bundle':<16} {'median ms':>10} {'p99 ms':>9} {'/ first':>8}")
    for r in results:
        print(f"{r['name']:<16} {r['median_ms']:>10.4f} {r['p99_ms']:>9.3f} "
              f"{r['median_ms'] / results[0]['median_ms']:>8.2f}")
    if len({r["outcomes_digest"] for r in results}) > 1:
        print("WARNING: the bundles' outcomes on these inputs differ (run compare)")
    write_json(ns.json, {"query": ns.query, "inputs": str(ns.inputs), "warmup": ns.warmup,
                         "iterations": ns.iterations, "mode": "paired", "results": results})
    return 0


# --------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{compare,batch,eval,bench,paired,check}")

    p = sub.add_parser("compare", help="compare two bundles on queries x inputs")
    p.add_argument("a", type=Path, help="bundle A (the original)")
    p.add_argument("b", type=Path, help="bundle B (e.g. the optimized one)")
    p.add_argument("--query", action="append", required=True, help="query (repeatable)")
    p.add_argument("--inputs", type=Path, required=True, help="JSON-lines inputs (__none__ = no input)")
    p.add_argument("--json", type=Path, help="write the full result here")
    p.add_argument("--show", type=int, default=20, help="print at most N differences")
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("batch", help="many comparisons in one process, from a JSON spec")
    p.add_argument("spec", type=Path)
    p.add_argument("--json", type=Path, help="write per-case results here")
    p.add_argument("--show", type=int, default=10, help="print at most N differences per case")
    p.set_defaults(run=cmd_batch)

    p = sub.add_parser("eval", help="print the outcome of a query on one bundle")
    p.add_argument("bundle", type=Path)
    p.add_argument("--query", action="append", required=True)
    p.add_argument("--input", default=NO_INPUT, help="input document as JSON text (default: none)")
    p.set_defaults(run=cmd_eval)

    def timing(p, warmup, iterations, warmup_help, iterations_help):
        """The arguments every timing command takes."""
        p.add_argument("--query", required=True)
        p.add_argument("--inputs", type=Path, required=True)
        p.add_argument("--warmup", type=int, default=warmup, help=warmup_help)
        p.add_argument("--iterations", type=int, default=iterations, help=iterations_help)

    for name, run, help_, warmup, iterations, warmup_help, iterations_help in (
        ("bench", cmd_bench, "latency and memory, each bundle in a fresh process",
         20, 200, "untimed evals after the first pass", "timed evals"),
        ("paired", cmd_paired, "latency ratios, all bundles side by side in one process",
         20000, 20000, "untimed evals per bundle", "timed rounds"),
    ):
        p = sub.add_parser(name, help=help_)
        timing(p, warmup, iterations, warmup_help, iterations_help)
        p.add_argument("--json", type=Path)
        p.add_argument("bundles", nargs="+", metavar="NAME=BUNDLE")
        p.set_defaults(run=run)

    p = sub.add_parser("_bench-child")
    timing(p, 20, 200, None, None)
    p.add_argument("bundle")
    p.set_defaults(run=cmd_bench_child)

    p = sub.add_parser("check", help="load the engine and print its OPA version")
    p.set_defaults(run=cmd_check)

    ns = ap.parse_args(argv)
    try:
        return ns.run(ns)
    except UsageError as e:
        print(f"opa_driver: {e}", file=sys.stderr)
        return 2
    except BundleError as e:
        print(f"opa_driver: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
