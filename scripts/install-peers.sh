#!/usr/bin/env bash
# Installs the record/replay tools `make bench PEERS=1` compares matgto with
# (bench/peers.py), skipping whatever is already there:
#   mitmproxy 8.1      Debian package (mitmdump)
#   Talkback 4.2       npm, into build/bench/peers/node_modules (never global)
#   Mountebank 2.9     npm (@mbtest/mountebank), same place
#   WireMock 3.13      npm (`wiremock`, which ships the standalone jar; runs on
#                      the JRE the Java client already needs)
# Exits 0 even when one peer fails to install: the bench prints a row saying
# which one and why. Prints one line per peer it had to install.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/build/bench/peers"
npm_pkgs=(talkback@4.2.0 @mbtest/mountebank@2.9.2 wiremock@3.13.2)
mkdir -p "$dir"

if ! command -v mitmdump >/dev/null; then
  echo "install-peers: installing mitmproxy (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  { DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mitmproxy >/dev/null; } ||
    echo "install-peers: mitmproxy did not install" >&2
fi
if ! command -v java >/dev/null; then
  echo "install-peers: installing a JRE for WireMock (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null ||
    echo "install-peers: no JRE, WireMock will not start" >&2
fi

missing=()
for spec in "${npm_pkgs[@]}"; do
  name="${spec%@*}" version="${spec##*@}"
  have="$(node -p "require('$dir/node_modules/$name/package.json').version" 2>/dev/null || true)"
  [ "$have" = "$version" ] || missing+=("$spec")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]} (npm, $dir)"
  [ -f "$dir/package.json" ] || echo '{"name": "matgto-bench-peers", "private": true}' >"$dir/package.json"
  # One at a time, so that one that fails leaves the others installed.
  for spec in "${missing[@]}"; do
    (cd "$dir" && npm install --no-audit --no-fund --save-exact --loglevel=error "$spec" >/dev/null) ||
      echo "install-peers: $spec did not install" >&2
  done
fi
exit 0
