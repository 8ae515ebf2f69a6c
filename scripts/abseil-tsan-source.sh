#!/usr/bin/env bash
# Puts the Abseil synchronization sources of the installed libabsl-dev (Debian's own
# source package, same version) under DEST, for the ThreadSanitizer build.
#
# Why: Debian's libabsl is compiled without -fsanitize=thread, so absl::Mutex's
# lock/unlock (atomics and futexes inside the shared library) are invisible to TSan
# and every field guarded by an absl::Mutex is reported as a race. The tsan preset
# compiles absl/synchronization/*.cc from this tree with TSan into every executable
# (cmake/tsan_abseil.cmake); those definitions take precedence over the shared
# library's, and their TSan annotations (ABSL_TSAN_MUTEX_*) make the locks visible.
# Debian's patches to this version touch no file under absl/synchronization.
#
# Downloads with apt-get's own client, using a private source list and cache under
# DEST/.. (the system's apt configuration is left alone).
#   scripts/abseil-tsan-source.sh build/abseil-src
set -euo pipefail
dest="${1:?usage: abseil-tsan-source.sh DEST}"
[ -f "$dest/absl/synchronization/mutex.cc" ] && exit 0
version="$(dpkg-query -W -f='${Version}' libabsl-dev)"
mkdir -p "$dest"
work="$(cd "$(dirname "$dest")" && pwd)/abseil-apt"  # apt wants absolute paths
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache"
: >"$work/sources.list"
cat >"$work/parts/debian-src.sources" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
echo "abseil-tsan-source: fetching Debian's abseil $version source"
apt-get "${apt[@]}" update -qq
(cd "$work" && apt-get "${apt[@]}" source --download-only -qq "abseil=$version" 2>/dev/null)
orig=$(ls "$work"/abseil_*.orig.tar.* | head -1)
tar -xf "$orig" -C "$dest" --strip-components=1 --wildcards '*/absl/synchronization/*'
test -f "$dest/absl/synchronization/mutex.cc"
