#!/usr/bin/env bash
# End-to-end check that the container image works: record through the containerised proxy,
# replay with the upstream gone, identical bytes, clean shutdown (exit 0).
#
#   deploy/test-image.sh            (slow: not part of `make test`; needs root, podman, debootstrap)
#
# No Docker engine and no image registry are needed: the base image is a `debootstrap
# --variant=minbase bookworm` root file system imported with `podman import` (cached under
# build/deploy/), the image is deploy/Dockerfile.prebuilt around build/dev/bin/matgto (run
# `make build` first), and podman runs with a private configuration (vfs storage, runc,
# cgroupfs, host network) under build/deploy/, so the machine's own podman setup is untouched.
#
# Environment: MATGTO_BIN (default build/dev/bin/matgto), DEBIAN_MIRROR (default: the first
# bookworm mirror in the host's apt sources, else http://deb.debian.org/debian),
# KEEP_IMAGE=1 keeps localhost/matgto:test afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${MATGTO_BIN:-$ROOT/build/dev/bin/matgto}
IMAGE=localhost/matgto:test
NAME=matgto-image-test-$$

# Talk to the proxy and the control API directly, whatever the caller's environment says.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy no_proxy NO_PROXY

T0=$(date +%s.%N)
step_start=$T0
timings=()
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
step() { # step NAME: closes the previous step's timing, announces the next one
  local now; now=$(date +%s.%N)
  [ -z "${cur_step:-}" ] || timings+=("$(printf '%-28s %6s s' "$cur_step" "$(elapsed "$step_start" "$now")")")
  cur_step=$1; step_start=$now
  [ -z "$1" ] || echo "== $1"
}
fail() { echo "test-image: FAIL: $*" >&2; exit 1; }

[ -x "$BIN" ] || fail "no binary at $BIN (run \`make build\`)"

# --- private podman configuration (deploy/podman-lib.sh) -------------------------------------
# shellcheck source=deploy/podman-lib.sh
. "$ROOT/deploy/podman-lib.sh"
podman_private_config

TMP=$(mktemp -d "$WORK/tmp/run.XXXXXX")
UP_PID=""
cleanup() {
  local rc=$?
  [ -z "$UP_PID" ] || kill "$UP_PID" 2>/dev/null || true
  if [ $rc -ne 0 ] && podman container exists "$NAME" 2>/dev/null; then
    echo "--- container log"; podman logs "$NAME" 2>&1 | tail -30 || true
  fi
  podman rm -f -t 2 "$NAME" "$NAME-ro" >/dev/null 2>&1 || true
  [ "${KEEP_IMAGE:-0}" = 1 ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT

# --- base image: debootstrap minbase bookworm, cached -----------------------------------------
step "base image"
podman_base_image

# --- image: Dockerfile.prebuilt around the host binary ----------------------------------------
step "build Dockerfile.prebuilt"
podman_build_image "$BIN" "$IMAGE"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = 10001:10001 ] \
  || fail "image does not run as uid 10001"

# --- run ---------------------------------------------------------------------------------------
step "start container"
free_ports() { python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])'; }
read -r P C U < <(free_ports)
CAS=$TMP/cassettes
CADIR=$TMP/ca
mkdir -p "$CAS" "$CADIR" && chmod 0777 "$CAS" "$CADIR" # the container user (10001) writes here
# MATGTO_SERVER points the image's HEALTHCHECK (`matgto status`) at the non-default port.
podman run -d --name "$NAME" --network host -v "$CAS:/cassettes" -v "$CADIR:/ca" \
  -e "MATGTO_SERVER=127.0.0.1:$C" "$IMAGE" \
  serve --proxy-port "$P" --control-port "$C" --cassette-dir /cassettes >/dev/null 2>"$TMP/run.err" \
  || { cat "$TMP/run.err"; fail "podman run failed"; }
# (podman 4.3 logs errors about systemd timers for the HEALTHCHECK where systemd is not PID 1;
# `podman healthcheck run` below works without them.)
M() { "$BIN" --server "127.0.0.1:$C" --timeout 10 "$@"; }
for _ in $(seq 100); do M status >/dev/null 2>&1 && break; sleep 0.1; done
M status >/dev/null || fail "server in the container never answered on 127.0.0.1:$C"
podman healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK reports unhealthy"
echo "healthcheck: $(podman inspect --format '{{.State.Health.Status}}' "$NAME")"
M ca export | grep -q 'BEGIN CERTIFICATE' || fail "no interception CA"
if [ ! -s "$CADIR/matgto-ca.pem" ] || [ ! -s "$CADIR/matgto-ca-key.pem" ]; then
  fail "the CA was not created in the mounted /ca (MATGTO_CA_DIR)"
fi

step "record"
mkdir -p "$TMP/www"
head -c 100000 /dev/urandom >"$TMP/www/blob.bin"
(cd "$TMP/www" && exec python3 -m http.server "$U" --bind 127.0.0.1 >/dev/null 2>&1) & UP_PID=$!
for _ in $(seq 100); do curl -sf --noproxy '*' -o /dev/null "http://127.0.0.1:$U/blob.bin" && break; sleep 0.1; done
URL=http://127.0.0.1:$U/blob.bin
M record image-test >/dev/null
curl -sS --noproxy '' --proxy "http://127.0.0.1:$P" -o "$TMP/live.bin" -w '%{http_code}\n' "$URL" \
  | grep -qx 200 || fail "recording request did not return 200"
cmp -s "$TMP/live.bin" "$TMP/www/blob.bin" || fail "recorded body differs from the upstream's"
M stop
[ -s "$CAS/image-test.pb" ] || fail "no cassette at $CAS/image-test.pb on the host"

step "replay"
kill "$UP_PID"; wait "$UP_PID" 2>/dev/null || true; UP_PID=""
curl -s --noproxy '*' -o /dev/null --max-time 2 "$URL" && fail "upstream still answering"
M replay image-test >/dev/null
curl -sS --noproxy '' --proxy "http://127.0.0.1:$P" -o "$TMP/replayed.bin" -w '%{http_code}\n' "$URL" \
  | grep -qx 200 || fail "replayed request did not return 200"
cmp "$TMP/live.bin" "$TMP/replayed.bin" || fail "replayed bytes differ from recorded ones"
echo "identical: $(wc -c <"$TMP/replayed.bin") bytes"

step "shutdown"
M shutdown >/dev/null
rc=$(podman wait "$NAME" | tail -1)
[ "$rc" = 0 ] || fail "container exited $rc"
echo "container exited 0"

# What the Kubernetes sidecar does: read-only root file system, cassettes and CA mounted
# read-only, cassette in use from the start (no control call), ended by SIGTERM.
step "read-only replay, SIGTERM"
podman run -d --name "$NAME-ro" --network host --read-only \
  -v "$CAS:/cassettes:ro" -v "$CADIR:/ca:ro" "$IMAGE" \
  serve --proxy-port "$P" --control-port "$C" --cassette-dir /cassettes \
  --mode replay --cassette image-test --ca-cert /ca/matgto-ca.pem --ca-key /ca/matgto-ca-key.pem \
  >/dev/null 2>"$TMP/run.err" || { cat "$TMP/run.err"; fail "podman run (read-only) failed"; }
for _ in $(seq 100); do M status >/dev/null 2>&1 && break; sleep 0.1; done
curl -sS --noproxy '' --proxy "http://127.0.0.1:$P" -o "$TMP/replayed2.bin" "$URL" \
  || { podman logs "$NAME-ro"; fail "read-only replay request failed"; }
cmp "$TMP/live.bin" "$TMP/replayed2.bin" || fail "read-only replay: bytes differ"
podman stop -t 10 "$NAME-ro" >/dev/null 2>&1
rc=$(podman inspect --format '{{.State.ExitCode}}' "$NAME-ro")
[ "$rc" = 0 ] || { podman logs "$NAME-ro"; fail "read-only container exited $rc on SIGTERM"; }
echo "identical, exited 0 on SIGTERM"

step ""
for t in "${timings[@]}"; do echo "  $t"; done
printf 'test-image: PASS in %s s\n' "$(elapsed "$T0" "$(date +%s.%N)")"
