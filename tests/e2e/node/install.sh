#!/usr/bin/env bash
# Installs the e2e Node clients once (node_modules cached until package.json changes).
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package.sha
want="$(sha256sum package.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi
