#!/usr/bin/env bash
# Installs @matgto/client the ways a user outside this repository would, each
# into a new project in a temporary folder, and runs scripts/install-smoke.mjs
# there against $MATGTO_BIN with HTTP(S)_PROXY/grpc_proxy set to a dead proxy:
#   1. `npm install <path>` of a fresh checkout of clients/node (no node_modules,
#      no dist/): its `prepare` script installs the build tools and builds;
#   2. `npm pack`, then `npm install <tarball>` (dist/ inside, no build), and
#      scripts/install-consumer.ts type-checked against it.
# Needs the npm registry (or a warm npm cache) and protoc on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
: "${MATGTO_BIN:?set MATGTO_BIN to the matgto server binary}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/matgto-node-install-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
case "$tmp" in "$root"/*) echo "check-install: $tmp is inside the repository" >&2; exit 1;; esac
npm_quiet=(--no-audit --no-fund --loglevel=error)

new_project() {
  mkdir -p "$1"
  (cd "$1" && npm init -y >/dev/null && npm pkg set type=module >/dev/null)
  cp "$here/scripts/install-smoke.mjs" "$1/"
}

echo "check-install: npm install <path> of a fresh checkout ($tmp/checkout/clients/node)"
mkdir -p "$tmp/checkout/clients"
cp -r "$root/proto" "$tmp/checkout/proto"
# What a clone has: the tracked files of clients/node as they are now.
(cd "$here" && git ls-files -z --cached --others --exclude-standard . | tar --null -T - -cf -) |
  (mkdir -p "$tmp/checkout/clients/node" && tar -xf - -C "$tmp/checkout/clients/node")
new_project "$tmp/from-path"
(cd "$tmp/from-path" && npm install "${npm_quiet[@]}" "$tmp/checkout/clients/node" && node install-smoke.mjs)

echo "check-install: npm pack, then npm install <tarball>"
tarball="$(cd "$here" && npm pack --silent --pack-destination "$tmp" | tail -1)"
listing="$(tar -tzf "$tmp/$tarball")"
grep -qx 'package/dist/index.js' <<<"$listing" || { echo "check-install: $tarball has no dist/index.js" >&2; exit 1; }
if grep -qE '^package/(src|test|node_modules)/' <<<"$listing"; then
  echo "check-install: $tarball carries sources or node_modules" >&2; exit 1
fi
new_project "$tmp/from-tarball"
(cd "$tmp/from-tarball" && npm install "${npm_quiet[@]}" "$tmp/$tarball" && node install-smoke.mjs)
echo "check-install: the tarball's type declarations, from a TypeScript consumer"
cp "$here/scripts/install-consumer.ts" "$tmp/from-tarball/"
(cd "$tmp/from-tarball" && "$here/node_modules/.bin/tsc" --noEmit --strict --skipLibCheck false \
  --target es2022 --module nodenext --moduleResolution nodenext --lib es2022,esnext.disposable \
  --typeRoots "$here/node_modules/@types" --types node install-consumer.ts)
