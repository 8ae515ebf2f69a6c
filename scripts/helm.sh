#!/usr/bin/env bash
# Builds (once) the `helm` binary that `make helm-test` renders the chart with, and
# prints its path. Debian 12 packages no helm and GitHub downloads are not used: helm is
# built from its Go module (helm.sh/helm/v3, Apache-2.0) through the Go module proxy:
#   ${MATGTO_CACHE:-$HOME/.cache/matgto}/helm-<version>/helm
# First build: about 6 minutes on 2 cores (niced) and ~700 MB of Go modules; nothing after.
# Progress goes to stderr, the path to stdout. $HELM, when set, is used as is.
set -euo pipefail
if [ -n "${HELM:-}" ]; then
  echo "$HELM"
  exit 0
fi
version="v3.22.0"
cache="${MATGTO_CACHE:-$HOME/.cache/matgto}"
dir="$cache/helm-$version"
helm="$dir/helm"
if [ -x "$helm" ]; then
  echo "$helm"
  exit 0
fi
go=go
command -v go >/dev/null || go=/usr/local/go/bin/go
command -v "$go" >/dev/null || { echo "helm.sh: needs Go (scripts/install-client-toolchains.sh)" >&2; exit 1; }
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -x "$helm" ]; then
  echo "$helm"
  exit 0
fi
echo "helm.sh: building helm $version from the Go module proxy (first time only, ~6 min)" >&2
start=$(date +%s)
GOBIN="$dir/bin.tmp" GOFLAGS="-buildvcs=false" nice -n 10 "$go" install "helm.sh/helm/v3/cmd/helm@$version" >&2
mv "$dir/bin.tmp/helm" "$helm"
rmdir "$dir/bin.tmp"
echo "helm.sh: built $helm in $(( $(date +%s) - start )) s" >&2
echo "$helm"
