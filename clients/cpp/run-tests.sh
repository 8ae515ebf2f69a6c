#!/usr/bin/env bash
# The C++ client's tests (clients/CONTRACT.md): builds the client, every test
# of it that ctest registers (cpp_client_test, cpp_auth_test, cpp_events_test,
# cpp_gtest_helper_test, cpp_mapping_test, cpp_conformance_test) and the
# server in the dev tree, then runs every `cpp.*` ctest test, the install
# check (cpp.install_and_find_package) included. `make test` already runs
# them with the rest of ctest; this runs only them.
#
# ctest gives the tests this build's server (build/dev/bin/matgto). A
# MATGTO_BIN naming another server is honoured: the test binaries then run
# directly against it, and only the install check goes through ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
tests=(client_test auth_test events_test gtest_helper_test mapping_test conformance_test)
cmake --preset dev >/dev/null
cmake --build build/dev -j"${JOBS:-2}" --target matgto matgto_client matgto_client_gtest \
  "${tests[@]/#/cpp_}"
own="$root/build/dev/bin/matgto"
if [ -n "${MATGTO_BIN:-}" ] && [ "$(realpath -m "$MATGTO_BIN")" != "$(realpath -m "$own")" ]; then
  for t in "${tests[@]}"; do
    echo "== cpp_$t (server: $MATGTO_BIN)"
    build/dev/bin/cpp_"$t"
  done
  ctest --test-dir build/dev -R '^cpp\.install' --output-on-failure
else
  ctest --test-dir build/dev -R '^cpp\.' -j"${JOBS:-2}" --output-on-failure
fi
