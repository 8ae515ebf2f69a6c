#!/usr/bin/env bash
# Tests the Rust client (crate matgto-client) against the real server
# ($MATGTO_BIN, default <repo>/build/dev/bin/matgto). Exits non-zero on any
# failure.
#
#   clients/rust/run-tests.sh [cargo test args...]    e.g. -- --nocapture record_then
#
# 1. makes sure cargo (rustup's stable toolchain) and protoc (Debian's
#    protobuf-compiler) exist, installing only what is absent;
# 2. cargo fmt --check, cargo clippy (warnings are errors), cargo test --locked
#    (the code is generated from ../../proto by build.rs at build time);
# 3. an install outside the repo: a throwaway crate in a temp folder depends on
#    this one by path and runs a test through LocalServer + test_cassette!.
# Crates come from the ordinary cargo cache (~/.cargo/registry): once it holds
# everything, the run needs no network. Builds use CARGO_BUILD_JOBS (default 1:
# the machine is shared).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
export MATGTO_BIN="${MATGTO_BIN:-$repo/build/dev/bin/matgto}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v cargo >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    echo "== rust client: installing the stable toolchain with rustup"
    rustup toolchain install stable --profile minimal --component rustfmt,clippy
    rustup default stable
  else
    echo "run-tests.sh: no cargo and no rustup: install Rust with rustup (https://rustup.rs)" >&2
    exit 2
  fi
fi
if [ -z "${PROTOC:-}" ] && ! command -v protoc >/dev/null 2>&1; then
  echo "== rust client: installing protoc (Debian's protobuf-compiler)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
fi
if [ ! -x "$MATGTO_BIN" ]; then
  echo "run-tests.sh: matgto binary not found or not executable: $MATGTO_BIN (build the server or set MATGTO_BIN)" >&2
  exit 1
fi

if cargo fmt --version >/dev/null 2>&1; then
  echo "== rust client: cargo fmt --check"
  cargo fmt --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  echo "== rust client: cargo clippy"
  cargo clippy --locked --all-targets --quiet -- -D warnings
fi

echo "== rust client: conformance suite (clients/conformance), skipped cases and why"
cargo test --locked --lib conformance_tests -- --nocapture 2>&1 | grep -E '^conformance: SKIP|^test result' || true

echo "== rust client: cargo test (server: $MATGTO_BIN)"
cargo test --locked "$@"

echo "== rust client: used from a crate outside the repository"
outside="$(mktemp -d)"
trap 'rm -rf "$outside"' EXIT
mkdir -p "$outside/tests"
cat >"$outside/Cargo.toml" <<TOML
[package]
name = "outside"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
matgto-client = { path = "$here" }

[dev-dependencies]
# The same features as the client's own tests: the cached build is reused.
tokio = { version = "1.40", default-features = false, features = ["rt", "rt-multi-thread", "time", "sync", "macros", "net", "io-util"] }

# The client's own profile (Cargo.toml): profiles come from the top manifest,
# and with cargo's default (debug info) every crate would be built again.
[profile.dev]
debug = 0

[profile.dev.package."*"]
debug = 0
TOML
mkdir -p "$outside/src" && : >"$outside/src/lib.rs"
cat >"$outside/tests/outside.rs" <<'RS'
#[tokio::test]
async fn records_through_the_installed_crate() {
    let srv = matgto_client::LocalServer::start().await.expect("LocalServer from $MATGTO_BIN");
    let cas = matgto_client::test_cassette!().server(srv.control_address()).start().await;
    assert_eq!(cas.name(), "outside/records_through_the_installed_crate");
    let st = cas.session().client().status().await.unwrap();
    assert_eq!(st.api_version, matgto_client::API_VERSION);
    let sum = cas.finish().await;
    assert_eq!(sum.end_reason, "stopped");
}
RS
# The client's lock file pins the same versions (and reuses the cached builds).
cp Cargo.lock "$outside/Cargo.lock"
CARGO_TARGET_DIR="$here/target" cargo test --manifest-path "$outside/Cargo.toml" --test outside
