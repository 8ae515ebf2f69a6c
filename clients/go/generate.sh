#!/usr/bin/env bash
# Generates the Go code for proto/matgto/v1 into matgtov1/ (checked in, so that
# the module is `go get`-able). Never edit the generated files by hand: change
# the .proto files and run this script.
#
#   clients/go/generate.sh            regenerate clients/go/matgtov1/*.pb.go
#   clients/go/generate.sh OUT_DIR    write OUT_DIR/matgtov1/*.pb.go instead
#                                     (run-tests.sh uses this to detect stale code)
#
# protoc comes from Debian (protobuf-compiler); the Go plugins are installed once,
# at the pinned versions below, into <repo>/build/tools/go/bin (or $MATGTO_GO_TOOLS).
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GO_MODULE=github.com/matgto/matgto-serge/clients/go

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="${MATGTO_GO_TOOLS:-$repo/build/tools/go/bin}"
out="${1:-$here}"

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

if ! command -v protoc >/dev/null 2>&1; then
  echo "generate.sh: installing protoc (Debian package protobuf-compiler)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    protobuf-compiler libprotobuf-dev >/dev/null
fi

# install_plugin BINARY PACKAGE VERSION: go install, unless the right version is there.
install_plugin() {
  local bin="$1" pkg="$2" version="$3" have=""
  if [ -x "$tools/$bin" ]; then have="$("$tools/$bin" --version 2>/dev/null || true)"; fi
  case "$have" in
    *" ${version#v}" | *" $version") return 0 ;;
  esac
  echo "generate.sh: installing $bin $version into $tools" >&2
  mkdir -p "$tools"
  (cd "$tools" && GOBIN="$tools" GOFLAGS=-mod=mod go install "$pkg@$version")
}
install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

# The well-known types (google/protobuf/duration.proto...) ship with libprotobuf-dev.
includes=(-I "$repo/proto")
for d in /usr/include /usr/local/include; do
  if [ -f "$d/google/protobuf/duration.proto" ]; then includes+=(-I "$d"); break; fi
done

mkdir -p "$out/matgtov1"
rm -f "$out"/matgtov1/*.pb.go
cd "$repo/proto"
PATH="$tools:$PATH" protoc "${includes[@]}" \
  --go_out="$out" --go_opt=module="$GO_MODULE" \
  --go-grpc_out="$out" --go-grpc_opt=module="$GO_MODULE" \
  matgto/v1/*.proto
