#!/usr/bin/env bash
# `make testcontainers-test`: the Testcontainers modules (Python, Java, Go) against podman's
# Docker-compatible API. Slow (an image build, containers started per test), so not part of
# `make test`. Needs root, podman and debootstrap (installed if missing), like
# deploy/test-image.sh, whose private podman configuration it shares (deploy/podman-lib.sh).
#
#   clients/testcontainers/run-tests.sh [python] [java] [go]     (default: all three)
#
# Steps: build localhost/matgto:test (deploy/Dockerfile.prebuilt around MATGTO_BIN, default
# build/dev/bin/matgto; base image cached under build/deploy/), start `podman system service`
# on a socket under build/deploy/run/, point Testcontainers at it (DOCKER_HOST) with Ryuk off
# (TESTCONTAINERS_RYUK_DISABLED=true: Ryuk's image comes from a registry, and none is reachable
# here), then run each module's tests. MATGTO_IMAGE names another image (not built then).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/clients/testcontainers
BIN=${MATGTO_BIN:-$ROOT/build/dev/bin/matgto}
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python java go)
fail() { echo "testcontainers-test: FAIL: $*" >&2; exit 1; }

# The proxy and control API are on loopback: never send them through the caller's proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy no_proxy NO_PROXY

# shellcheck source=deploy/podman-lib.sh
. "$ROOT/deploy/podman-lib.sh"
podman_private_config

if [ -n "${MATGTO_IMAGE:-}" ]; then
  IMAGE=$MATGTO_IMAGE
  podman image exists "$IMAGE" || fail "MATGTO_IMAGE=$IMAGE is not in the private podman storage"
else
  IMAGE=localhost/matgto:test
  echo "== image $IMAGE"
  podman_base_image
  podman_build_image "$BIN" "$IMAGE"
fi

SOCK=$WORK/run/podman-tc-$$.sock
SVC_PID=""
cleanup() {
  local rc=$?
  if [ -n "$SVC_PID" ]; then
    # Containers a failed test left behind (Ryuk is off): the modules label theirs.
    podman ps -aq --filter label=dev.matgto.testcontainers=true | xargs -r "$PODMAN" rm -f -t 2 >/dev/null 2>&1 || true
    kill "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
  fi
  rm -f "$SOCK"
  exit $rc
}
trap cleanup EXIT

echo "== podman system service unix://$SOCK"
# Not through the podman() function: its subshell would get the signal, not the service.
nice -n 19 "$PODMAN" system service --time=0 "unix://$SOCK" >"$WORK/run/podman-service.log" 2>&1 & SVC_PID=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
  kill -0 "$SVC_PID" 2>/dev/null || { tail -20 "$WORK/run/podman-service.log"; fail "podman system service exited"; }
  sleep 0.1
done
curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null || fail "podman system service never answered on $SOCK"
export DOCKER_HOST=unix://$SOCK TESTCONTAINERS_RYUK_DISABLED=true MATGTO_IMAGE=$IMAGE

for lang in "${langs[@]}"; do
  case "$lang" in
    python)
      echo "== python (clients/testcontainers/python)"
      venv=$ROOT/build/testcontainers-venv
      [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
      "$venv/bin/pip" install -q --upgrade pip >/dev/null
      # The matgto client by path first, so the module's `matgto` requirement is satisfied by it.
      "$venv/bin/pip" install -q "$ROOT/clients/python" "$HERE/python[test]"
      (cd "$HERE/python" && "$venv/bin/python" -m pytest -v tests)
      ;;
    java)
      echo "== java (clients/testcontainers/java)"
      # The matgto Java client into the local Maven repository (~/.m2), then the module's tests.
      (cd "$ROOT/clients/java" && mvn -q -B install -DskipTests -Dmatgto.bin="$BIN")
      (cd "$HERE/java" && mvn -B -ntp test)
      ;;
    go)
      echo "== go (clients/testcontainers/go)"
      (cd "$HERE/go" && go test -count=1 -v ./...)
      ;;
    *) fail "unknown module '$lang' (python, java or go)" ;;
  esac
done
echo "testcontainers-test: PASS (${langs[*]})"
