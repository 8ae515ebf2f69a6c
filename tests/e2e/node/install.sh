#!/usr/bin/env bash
# Installs the e2e Node clients once (node_modules cached until package.json changes).
# Serialised with a lock: pytest-xdist's workers each ask for it at once, and
# a second npm install rewriting node_modules under the first one's test left
# `ws` missing for a moment (ERR_MODULE_NOT_FOUND on a fresh clone).
set -euo pipefail
cd "$(dirname "$0")"
exec 9>.install.lock
flock 9
stamp=node_modules/.package.sha
want="$(sha256sum package.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi
