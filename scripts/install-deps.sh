#!/usr/bin/env bash
# Installs what building and testing matgto needs on a Debian 12 machine, skipping
# whatever is already there. Idempotent; safe to run on every `make` invocation.
#   scripts/install-deps.sh build   - C++ toolchain and libraries
#   scripts/install-deps.sh test    - build + test peers (curl, nginx, wrk, python venv)
set -euo pipefail
what="${1:-build}"

build_pkgs=(build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libbrotli-dev libssl-dev libabsl-dev libre2-dev zlib1g-dev
  libgtest-dev libgmock-dev libcli11-dev)
test_pkgs=(curl openssl nginx-light wrk clang-format python3-venv)

missing=()
want=("${build_pkgs[@]}")
[ "$what" = build ] || want+=("${test_pkgs[@]}")
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
