#!/usr/bin/env bash
# Installs the matgto Python client (and its test dependencies) into build/venv,
# generating its gRPC code from proto/ on the way, then runs its tests against
# $MATGTO_BIN (default: build/dev/bin/matgto). The install is skipped when
# nothing it depends on changed. Extra arguments go to pytest.
# Then, unless arguments were given (a partial run) or MATGTO_INSTALL_CHECK=0,
# scripts/check-install.sh installs the client outside the repository (a path
# install and a wheel, each in a fresh venv in a temp folder) and uses it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/build/venv"
py="$venv/bin/python"

"$root/scripts/venv.sh"

stamp="$venv/.matgto-python-client.sha"
want="$(
  cd "$here"
  {
    find pyproject.toml setup.py MANIFEST.in src -type f \
      ! -name '*_pb2.py' ! -name '*_pb2.pyi' ! -name '*_pb2_grpc.py' \
      ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum
    (cd "$root" && find proto -name '*.proto' -print0 | sort -z | xargs -0 sha256sum)
    "$py" -m pip freeze --exclude matgto 2>/dev/null | grep -iE '^(grpcio-tools|protobuf|setuptools)=' || true
  } | sha256sum | cut -d' ' -f1
)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$py" -I -c 'import matgto.v1.control_pb2_grpc' 2>/dev/null; then
  echo "run-tests: installing clients/python into $venv"
  # No build isolation: generate with the venv's grpcio-tools, offline and fast.
  "$py" -m pip install -q --disable-pip-version-check --no-build-isolation "$here[test]"
  echo "$want" > "$stamp"
fi

export MATGTO_BIN="${MATGTO_BIN:-$root/build/dev/bin/matgto}"
if [ ! -x "$MATGTO_BIN" ]; then
  echo "run-tests: matgto binary not found at $MATGTO_BIN (build the server or set MATGTO_BIN)" >&2
  exit 1
fi
cd "$here"
# No arguments: pyproject.toml's testpaths (tests/).
# -rs: skipped tests (e.g. conformance cases this client lacks) say why.
"$py" -m pytest -p no:cacheprovider -rs "$@"
if [ $# -eq 0 ] && [ "${MATGTO_INSTALL_CHECK:-1}" != 0 ]; then
  scripts/check-install.sh
fi
