#!/usr/bin/env bash
# Tests the Go client against the real server ($MATGTO_BIN, default
# <repo>/build/dev/bin/matgto). Exits non-zero on any failure.
#
#   clients/go/run-tests.sh [go test flags...]     e.g. -v -run TestRecordThenReplay
#
# 1. installs protoc and the Go protoc plugins once (build/tools/go/bin),
# 2. fails when the checked-in matgtov1/*.pb.go are stale against proto/,
# 3. gofmt + go vet, 4. go test ./..., 5. install-test.sh (a module outside the
# repo: replace, and go get from a clients/go/vX.Y.Z tag)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
home="${HOME:-/root}"
export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$home/.cache}/go-build}"
export GOMODCACHE="${GOMODCACHE:-${GOPATH:-$home/go}/pkg/mod}"
export MATGTO_BIN="${MATGTO_BIN:-$repo/build/dev/bin/matgto}"
# go.sum is checked in: never let a test run rewrite go.mod or go.sum.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

echo "== go client: checking generated code against proto/"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$here/generate.sh" "$tmp"
# Lines naming the protoc version are ignored: another protoc build may differ
# there only.
if ! diff -r -u -I '^// .*protoc  *v[0-9]' "$here/matgtov1" "$tmp/matgtov1" >"$tmp/diff"; then
  head -n 60 "$tmp/diff" >&2
  echo "run-tests.sh: clients/go/matgtov1 is STALE: it does not match what proto/ generates." >&2
  echo "run-tests.sh: run clients/go/generate.sh and commit clients/go/matgtov1." >&2
  exit 1
fi

echo "== go client: gofmt, go vet"
unformatted="$(gofmt -l $(ls *.go) )"
if [ -n "$unformatted" ]; then
  echo "run-tests.sh: not gofmt-formatted: $unformatted (run gofmt -w)" >&2
  exit 1
fi
go vet ./...

echo "== go client: conformance suite (clients/conformance), skipped cases and why"
go test -count=1 -run '^TestConformance' -v . | grep -E -- '--- (SKIP|FAIL)|conformance:|^(ok|FAIL)' || true

echo "== go client: go test (server: $MATGTO_BIN)"
go test -count=1 -timeout 10m "$@" ./...

echo "== go client: installs outside the repo (install-test.sh)"
"$here/install-test.sh"
