#!/usr/bin/env bash
# `make bench` entry point: prints the benchmark table (see bench.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/build/venv/bin/python" "$root/bench/bench.py" "$@"
