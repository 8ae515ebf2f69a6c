#!/usr/bin/env bash
# Creates (once) and refreshes the Python virtualenv used by the end-to-end tests,
# the benchmarks and the Python client: build/venv. Prints nothing when up to date.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/build/venv"
reqs="$root/scripts/requirements-test.txt"
stamp="$venv/.requirements.sha"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  py="$(command -v python3)"
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  echo "$want" > "$stamp"
fi
