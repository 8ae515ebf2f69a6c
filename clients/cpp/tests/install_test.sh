#!/usr/bin/env bash
# cmake --install the C++ client from BUILD_DIR into a temporary prefix, then
# configure, build and run a consumer project (tests/consumer) copied to a
# temporary folder outside the repository, against a server it launches.
# The consumer runs with HTTP(S)_PROXY, http(s)_proxy and grpc_proxy set to
# a dead proxy (and NO_PROXY empty), as the other clients' install checks
# do: the control channel must never go through them.
#   install_test.sh BUILD_DIR MATGTO_BIN [CXX_FLAGS [LINKER_FLAGS]]
# (the flags of the build that made the library: a sanitizer build's library
# links only into a program built with the same sanitizer)
set -euo pipefail
build_dir=$1
export MATGTO_BIN=$2
cxx_flags=${3:-}
linker_flags=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/matgto-cpp-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
case "$tmp" in "$(cd "$here/../../.." && pwd)"/*) echo "temp dir inside the repo" >&2; exit 1;; esac

cmake --install "$build_dir" --component matgto_client --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/lib/cmake/matgto_client/matgto_clientConfig.cmake" || \
  test -f "$tmp"/prefix/lib/*/cmake/matgto_client/matgto_clientConfig.cmake
cp -r "$here/consumer" "$tmp/consumer"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$tmp/consumer" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" "${launcher[@]}" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$linker_flags" >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
dead=http://127.0.0.1:9  # nothing listens there
HTTP_PROXY=$dead HTTPS_PROXY=$dead http_proxy=$dead https_proxy=$dead \
  grpc_proxy=$dead NO_PROXY= no_proxy= "$tmp/build/consumer"
