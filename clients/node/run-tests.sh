#!/usr/bin/env bash
# Installs dependencies (only when package.json / package-lock.json changed),
# generates code from ../../proto, builds, and runs the tests against the
# real server ($MATGTO_BIN, default <repo>/build/dev/bin/matgto). Then, unless
# MATGTO_INSTALL_CHECK=0, scripts/check-install.sh installs the package outside
# the repository (npm install <path> of a fresh checkout, and the npm pack
# tarball) and uses it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export MATGTO_BIN="${MATGTO_BIN:-$(cd ../.. && pwd)/build/dev/bin/matgto}"

stamp=node_modules/.matgto-deps.sha256
want="$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1) node-$(node --version)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "run-tests: installing dependencies"
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
    want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node-$(node --version)"
  fi
  echo "$want" > "$stamp"
else
  echo "run-tests: dependencies up to date"
fi

npm run --silent build
npm run --silent build:test

if [[ ! -x "$MATGTO_BIN" ]]; then
  echo "run-tests: matgto binary not found or not executable: $MATGTO_BIN" >&2
  echo "run-tests: the integration tests will fail; build the server or set MATGTO_BIN" >&2
fi

shopt -s nullglob
tests=(build-test/*.test.js)
if (( ${#tests[@]} == 0 )); then
  echo "run-tests: no compiled tests found" >&2
  exit 1
fi
node --test --test-reporter=spec "${tests[@]}"
if [[ "${MATGTO_INSTALL_CHECK:-1}" != 0 ]]; then
  scripts/check-install.sh
fi
