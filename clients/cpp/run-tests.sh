#!/usr/bin/env bash
# The C++ client's tests (clients/CONTRACT.md): builds the client, its tests
# and the server in the dev tree, then runs them with ctest against
# $MATGTO_BIN (default: build/dev/bin/matgto). `make test` already runs
# them with the rest of ctest; this runs only them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake --preset dev >/dev/null
cmake --build build/dev -j"${JOBS:-2}" --target matgto cpp_client_test cpp_auth_test \
  cpp_gtest_helper_test matgto_client matgto_client_gtest
if [ -n "${MATGTO_BIN:-}" ]; then
  # ctest sets MATGTO_BIN to this build's server; run the binaries directly instead.
  for t in client_test auth_test gtest_helper_test; do build/dev/bin/cpp_$t; done
else
  ctest --test-dir build/dev -R '^cpp\.' -j"${JOBS:-2}" --output-on-failure
fi
