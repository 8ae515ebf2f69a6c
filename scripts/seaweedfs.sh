#!/usr/bin/env bash
# Builds (once) the SeaweedFS `weed` binary the S3 store tests run against, and
# prints its path. SeaweedFS (Apache-2.0) is a real S3-compatible server that
# honours conditional writes (If-Match / If-None-Match on PutObject).
#
# `go install github.com/seaweedfs/seaweedfs/weed@V` is refused (its go.mod has
# replace directives), so a throwaway module outside the repo requires the pinned
# version and builds weed from it. The binary is cached in
#   ${MATGTO_CACHE:-$HOME/.cache/matgto}/seaweedfs-<version>/weed
# and the Go module cache (~3.4 GB) is reused between runs; the first build takes
# about 5 minutes on 2 cores. Progress goes to stderr, the path to stdout.
set -euo pipefail
version="v0.0.0-20261109003541-7506e5f91cd6"
cache="${MATGTO_CACHE:-$HOME/.cache/matgto}"
dir="$cache/seaweedfs-$version"
weed="$dir/weed"
if [ -x "$weed" ]; then
  echo "$weed"
  exit 0
fi
go=go
command -v go >/dev/null || go=/usr/local/go/bin/go
command -v "$go" >/dev/null || { echo "seaweedfs.sh: needs Go (scripts/install-client-toolchains.sh)" >&2; exit 1; }
mkdir -p "$dir"
# One builder at a time (a parallel `make test` and `make bench` would both try).
exec 9>"$dir/.lock"
flock 9
if [ -x "$weed" ]; then
  echo "$weed"
  exit 0
fi
src="$dir/build"
rm -rf "$src"
mkdir -p "$src"
cd "$src"
echo "seaweedfs.sh: building weed $version (first time only, ~5 min and ~3.4 GB of Go modules)" >&2
start=$(date +%s)
"$go" mod init matgto.local/seaweedfs-build >/dev/null 2>&1
# -mod=mod: the throwaway module has no go.sum of its own yet.
nice -n 10 "$go" get "github.com/seaweedfs/seaweedfs@$version" >&2
nice -n 10 "$go" get "github.com/seaweedfs/seaweedfs/weed@$version" >&2
nice -n 10 "$go" build -o "$weed.tmp" github.com/seaweedfs/seaweedfs/weed >&2
mv "$weed.tmp" "$weed"
cd /
rm -rf "$src"
echo "seaweedfs.sh: built $weed in $(( $(date +%s) - start )) s" >&2
echo "$weed"
