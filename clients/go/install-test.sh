#!/usr/bin/env bash
# Installs the Go client outside the repository, as a user would, and runs a
# program using it against a real server ($MATGTO_BIN) with HTTP_PROXY and
# HTTPS_PROXY pointing at a dead proxy. Offline: the module cache must hold
# the client's dependencies (run-tests.sh has built the client before).
#
# 1. `replace`: a temp module requires the module path and replaces it with
#    this folder (how one tries an unreleased client).
# 2. `go get MODULE@vX.Y.Z` from a tag clients/go/vX.Y.Z, the tag scheme of
#    a Go module in a subfolder: a throwaway git repository with the same
#    layout stands in for github.com/matgto/matgto-serge (git's insteadOf),
#    with a module cache of its own so the test version never lands in yours.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
home="${HOME:-/root}"
export GOMODCACHE="${GOMODCACHE:-${GOPATH:-$home/go}/pkg/mod}"
: "${MATGTO_BIN:?set MATGTO_BIN to the matgto server binary}"
module="github.com/matgto/matgto-serge/clients/go"
godirective="$(awk '/^go /{print $2; exit}' "$here/go.mod")"

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
dead=http://127.0.0.1:9

consumer() { # DIR: a module outside the repo with the check program
  mkdir -p "$1"
  cp "$here/testdata/installcheck/main.go" "$1/"
  cp "$here/go.sum" "$1/" # the dependencies' hashes: no checksum database needed
  printf 'module example.com/matgto-consumer\n\ngo %s\n' "$godirective" >"$1/go.mod"
}

run_check() { # DIR
  (cd "$1" && go build -o installcheck . &&
    HTTP_PROXY=$dead HTTPS_PROXY=$dead http_proxy=$dead https_proxy=$dead NO_PROXY= no_proxy= \
      ./installcheck)
}

echo "== go client: install outside the repo with replace ($work/replace)"
consumer "$work/replace"
(cd "$work/replace" &&
  go mod edit -replace="$module=$here" &&
  GOFLAGS=-mod=mod GOPROXY=off go get "$module@v0.0.0")
run_check "$work/replace"

echo "== go client: go get $module@v0.0.0-installtest from the tag clients/go/v0.0.0-installtest"
repo="$work/repo"
mkdir -p "$repo/clients/go"
(cd "$here" && cp -r go.mod go.sum ./*.go matgtov1 README.md "$repo/clients/go/")
rm -f "$repo/clients/go/"*_test.go
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=installtest -c user.email=installtest@invalid commit -q -m "client snapshot"
git -C "$repo" tag clients/go/v0.0.0-installtest
cat >"$work/gitconfig" <<CFG
[url "file://$repo"]
	insteadOf = https://github.com/matgto/matgto-serge
CFG
consumer "$work/tagged"
# The dependencies come from your module cache, served as a file:// proxy.
cache_proxy="file://$GOMODCACHE/cache/download"
(cd "$work/tagged" &&
  GIT_CONFIG_GLOBAL="$work/gitconfig" GIT_CONFIG_NOSYSTEM=1 \
    GOMODCACHE="$work/modcache" GOFLAGS="-mod=mod -modcacherw" \
    GOPROXY="$cache_proxy" GOPRIVATE=github.com/matgto GOSUMDB=off \
    go get "$module@v0.0.0-installtest" &&
  grep -q "$module v0.0.0-installtest" go.mod)
GOMODCACHE="$work/modcache" GOFLAGS=-mod=readonly run_check "$work/tagged"
echo "go client: installs outside the repo work"
