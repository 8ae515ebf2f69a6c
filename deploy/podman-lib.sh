# Shared by deploy/test-image.sh and clients/testcontainers/run-tests.sh (source it; bash).
#
# podman with a private configuration under $WORK (default build/deploy/): vfs storage, runc,
# cgroupfs, host network, raised default ulimits, so the machine's own podman setup is
# untouched. The base image is a `debootstrap --variant=minbase bookworm` root file system
# imported with `podman import` (cached under $WORK), since no image registry is needed.
#
#   podman_private_config          write the config, export CONTAINERS_CONF etc., define podman()
#   podman_base_image              import localhost/matgto-base if it is not there yet
#   podman_build_image BIN IMAGE   deploy/Dockerfile.prebuilt around BIN, tagged IMAGE
#
# Expects ROOT (the repository) and defines fail() unless the caller did.

: "${ROOT:?ROOT must be set to the repository root}"
WORK=${WORK:-$ROOT/build/deploy}
BASE_IMAGE=${BASE_IMAGE:-localhost/matgto-base}
declare -F fail >/dev/null || fail() { echo "podman-lib: FAIL: $*" >&2; exit 1; }

podman_install_tools() { # apt-get install whatever of podman, buildah, ... is missing
  local missing=() t
  for t in podman:podman buildah:buildah runc:runc debootstrap:debootstrap curl:curl; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "podman-lib: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

podman_private_config() {
  [ "$(id -u)" = 0 ] || fail "needs root (podman with vfs storage and host network)"
  podman_install_tools
  mkdir -p "$WORK/storage" "$WORK/run" "$WORK/tmp"
  cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/run/events.log"
tmp_dir = "$WORK/run/libpod-tmp"
EOF
  cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/storage"
runroot = "$WORK/run/storage"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf
  export TMPDIR=$WORK/tmp # podman/buildah stage layers here; /tmp may be small
  PODMAN=$(type -P podman)
  podman() { nice -n 19 "$PODMAN" "$@"; }
}

podman_base_image() {
  if podman image exists "$BASE_IMAGE"; then
    echo "cached: $BASE_IMAGE"
    return
  fi
  local tarball=$WORK/bookworm-minbase.tar
  if [ ! -s "$tarball" ]; then
    local mirror
    mirror=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '!/^[[:space:]]*#/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' || true)}
    mirror=${mirror:-http://deb.debian.org/debian}
    local rootfs=$WORK/rootfs
    rm -rf "$rootfs"
    echo "debootstrap --variant=minbase bookworm from $mirror"
    nice -n 19 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap failed (log: $WORK/debootstrap.log)"; }
    # Same suites as the official debian:bookworm-slim image, so apt in a build gets updates.
    local security=${mirror%/debian*}/debian-security
    case "$mirror" in *deb.debian.org*) ;; *) security=http://deb.debian.org/debian-security ;; esac
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
  echo "imported $tarball as $BASE_IMAGE"
}

podman_build_image() { # BIN IMAGE: deploy/Dockerfile.prebuilt around BIN
  local bin=$1 image=$2 ctx
  [ -x "$bin" ] || fail "no binary at $bin (run \`make build\`)"
  ctx=$(mktemp -d "$WORK/tmp/context.XXXXXX")
  cp "$ROOT/deploy/Dockerfile.prebuilt" "$ctx/Dockerfile"
  cp "$bin" "$ctx/matgto"
  podman build --pull=never --format docker --build-arg BASE="$BASE_IMAGE" \
    -t "$image" -f "$ctx/Dockerfile" "$ctx" >"$ctx.build.log" 2>&1 \
    || { tail -30 "$ctx.build.log"; rm -rf "$ctx"; fail "podman build failed (log: $ctx.build.log)"; }
  rm -rf "$ctx" "$ctx.build.log"
  podman image inspect --format '{{.Size}}' "$image" \
    | awk -v i="$image" '{printf "image %s: %.0f MB\n", i, $1/1e6}'
}
