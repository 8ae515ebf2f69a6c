#!/usr/bin/env bash
# Installs what building and testing matgto needs on a Debian 12 machine, skipping
# whatever is already there. Idempotent; safe to run on every `make` invocation.
#   scripts/install-deps.sh build   - C++ toolchain and libraries
#   scripts/install-deps.sh test    - build + test peers (curl, nginx, wrk, python venv)
#   scripts/install-deps.sh fuzz    - build + clang 14 with libFuzzer and the sanitizer
#                                     runtimes (`make fuzz`)
set -euo pipefail
what="${1:-build}"

build_pkgs=(build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libbrotli-dev libssl-dev libabsl-dev libre2-dev zlib1g-dev
  libgtest-dev libgmock-dev libcli11-dev libspdlog-dev
  libcurl4-openssl-dev libexpat1-dev  # the S3 store: libcurl's SigV4, expat for S3's XML
  libnghttp2-dev)  # HTTP/2 with clients and upstreams (server/proxy/h2.cc)
# prometheus: only for its promtool (`promtool check metrics` in the e2e
# tests); Debian ships promtool in the server package (~100 MB installed).
# chromium + chromium-driver: the admin page's browser tests (headless,
# driven by Selenium; tests/e2e/test_admin_browser.py).
test_pkgs=(curl openssl nginx-light wrk nghttp2-client clang-format python3-venv prometheus
  chromium chromium-driver)
# clang-14 (not the `clang` metapackage) so the compiler names the fuzz preset uses
# exist whatever the default clang is; libclang-rt-14-dev holds libFuzzer and the
# ASan/UBSan runtimes for -fsanitize=fuzzer,address,undefined.
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

missing=()
want=("${build_pkgs[@]}")
case "$what" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  *) echo "install-deps: unknown set '$what' (build, test or fuzz)" >&2; exit 2 ;;
esac
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
