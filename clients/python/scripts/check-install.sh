#!/usr/bin/env bash
# Installs the Python client the ways a user outside this repository would, each
# into a fresh virtualenv in a temporary folder, and runs scripts/install_smoke.py
# from there against $MATGTO_BIN with HTTP(S)_PROXY/grpc_proxy set to a dead proxy:
#   1. `pip install clients/python` (an isolated build: setuptools and the pinned
#      grpcio-tools come from the package index, as for any user);
#   2. the wheel `pip wheel` builds, installed with the OLDEST grpcio and protobuf
#      its metadata allows (so the lower bounds are checked, not just written).
# Needs the package index (or a warm pip cache).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
: "${MATGTO_BIN:?set MATGTO_BIN to the matgto server binary}"
py="${PYTHON:-python3}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/matgto-py-install-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
case "$tmp" in "$(cd "$here/../.." && pwd)"/*) echo "check-install: $tmp is inside the repository" >&2; exit 1;; esac
pip_quiet=(-q --disable-pip-version-check)

echo "check-install: pip install <path> into a fresh venv ($tmp/from-path)"
"$py" -m venv "$tmp/from-path"
"$tmp/from-path/bin/pip" install "${pip_quiet[@]}" "$here"
cp "$here/scripts/install_smoke.py" "$tmp/"
(cd "$tmp" && "$tmp/from-path/bin/python" -I install_smoke.py)

echo "check-install: pip wheel, then the wheel with its oldest allowed grpcio/protobuf ($tmp/from-wheel)"
"$tmp/from-path/bin/pip" wheel "${pip_quiet[@]}" --no-deps -w "$tmp/dist" "$here"
wheel=("$tmp"/dist/matgto-*.whl)
requires="$("$tmp/from-path/bin/python" - "${wheel[0]}" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            print(line.split(":", 1)[1].strip())
PY
)"
echo "check-install: the wheel requires: $(echo "$requires" | paste -sd' ')"
# grpcio>=A and protobuf>=B,<C  ->  grpcio==A, protobuf==B
oldest="$(echo "$requires" | sed -nE 's/^(grpcio|protobuf)[^>]*>= *([0-9.]+).*/\1==\2/p')"
[ "$(echo "$oldest" | wc -l)" = 2 ] || { echo "check-install: no lower bounds in: $requires" >&2; exit 1; }
"$py" -m venv "$tmp/from-wheel"
"$tmp/from-wheel/bin/pip" install "${pip_quiet[@]}" "${wheel[0]}" $oldest
(cd "$tmp" && "$tmp/from-wheel/bin/python" -I install_smoke.py)
