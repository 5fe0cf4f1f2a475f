#!/usr/bin/env bash
# Install the real OPA engine used as regopt's test oracle, idempotently.
#
# The engine is libopabridge.so, a Go c-shared build of OPA v1.20.2 shipped in
# the PyPI wheel opa-golib-python-bindings 0.4.4. The wheel is pure ctypes
# (py3-none) but declares Requires-Python >=3.14, so it is downloaded for 3.14
# and loaded from any Python 3 by file path. The wheel is pinned by sha256.
# Also makes sure PyYAML is importable (bundles may carry data.yaml).
# PyPI must be reachable the first time; later runs are offline and quick.
#
# Prints the directory that holds opa_bindings/libopabridge.so.
# Env: REGOPT_OPA_CACHE  cache root (default ~/.cache/regopt-opa)
#      PYTHON            python interpreter (default python3)
set -euo pipefail

VERSION="0.4.4"
SHA256="d411c901e14b8c7c3023e23e4a944f4cf429c1d31baf80e959e57d11efbfd24a"
CACHE="${REGOPT_OPA_CACHE:-$HOME/.cache/regopt-opa}"
DEST="$CACHE/opa-golib-python-bindings-$VERSION"
PY="${PYTHON:-python3}"

# PyYAML, for bundles with data.yaml. Where pip may not install into the
# interpreter (PEP 668), it goes into $CACHE/python, which opa_driver.py
# adds to its import path.
PYLIB="$CACHE/python"
if ! PYTHONPATH="$PYLIB${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c 'import yaml' 2>/dev/null; then
    if ! "$PY" -m pip install --quiet pyyaml >&2; then
        echo "install_opa.sh: installing PyYAML into $PYLIB instead" >&2
        "$PY" -m pip install --quiet --target "$PYLIB" pyyaml >&2
    fi
fi

if [ -f "$DEST/opa_bindings/libopabridge.so" ] && [ -f "$DEST/opa_bindings/_native.py" ]; then
    echo "$DEST"
    exit 0
fi

mkdir -p "$CACHE"
DL="$(mktemp -d "$CACHE/download.XXXXXX")"
TMP="$DEST.tmp.$$"
trap 'rm -rf "$DL" "$TMP"' EXIT

"$PY" -m pip download --quiet --no-deps --python-version 3.14 --only-binary=:all: \
    --platform manylinux_2_34_x86_64 -d "$DL" "opa-golib-python-bindings==$VERSION" >&2

WHL="$(ls "$DL"/opa_golib_python_bindings-"$VERSION"-*.whl | head -n1)"
GOT="$(sha256sum "$WHL" | cut -d' ' -f1)"
if [ "$GOT" != "$SHA256" ]; then
    echo "install_opa.sh: $(basename "$WHL") has sha256 $GOT, expected $SHA256" >&2
    exit 1
fi

rm -rf "$TMP"
"$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$WHL" "$TMP"
if [ ! -f "$TMP/opa_bindings/libopabridge.so" ]; then
    echo "install_opa.sh: $(basename "$WHL") has no opa_bindings/libopabridge.so" >&2
    exit 1
fi
# Atomic: a concurrent install may have won the race; then keep its copy.
if ! mv -T "$TMP" "$DEST" 2>/dev/null; then
    if [ ! -f "$DEST/opa_bindings/libopabridge.so" ]; then
        rm -rf "$DEST"   # a broken copy without the library
        mv -T "$TMP" "$DEST"
    fi
fi
echo "$DEST"
