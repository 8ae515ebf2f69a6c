# matgto — the two commands a newcomer needs are `make run` and `make test`.
# Everything they need is installed by scripts/ (apt, pip, npm, go, maven).

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
JOBS ?= $(shell nproc)
MATGTO := $(ROOT)/build/dev/bin/matgto
MATGTO_ASAN := $(ROOT)/build/asan/bin/matgto
# ccache (the user's own cache dir) with paths made relative, so a second
# checkout or CI's fresh clone reuses the objects of the first.
export CCACHE_BASEDIR := $(ROOT)
export CCACHE_NOHASHDIR := 1

.PHONY: help deps deps-build build build-asan run test test-unit test-asan test-e2e \
        test-clients bench format format-check clean

help:
	@echo "make run     install what is missing, build, start the server (proxy 127.0.0.1:8888, control 127.0.0.1:8889, ./cassettes)"
	@echo "make test    install, build, run every test: C++ unit (+ASan/UBSan), end-to-end, every client"
	@echo "make build   build only (binary: build/dev/bin/matgto)"
	@echo "make bench   replay throughput/latency vs nginx serving the same body, same run"

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh test
	@scripts/install-client-toolchains.sh
	@scripts/venv.sh

build: deps-build
	@cmake --preset dev >/dev/null
	@cmake --build build/dev -j$(JOBS)

build-asan: deps-build
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j$(JOBS)

run: build
	@mkdir -p cassettes
	exec $(MATGTO) serve --cassette-dir ./cassettes $(ARGS)

test-unit: build
	ctest --preset dev -j$(JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --preset asan -j$(JOBS)
	@scripts/venv.sh
	MATGTO_BIN=$(MATGTO_ASAN) ASAN_OPTIONS=detect_leaks=1 build/venv/bin/python -m pytest -q tests/e2e

test-e2e: build deps
	MATGTO_BIN=$(MATGTO) build/venv/bin/python -m pytest -q tests/e2e

test-clients: build deps
	@set -e; for c in python node go java; do \
	  echo "== clients/$$c"; MATGTO_BIN=$(MATGTO) clients/$$c/run-tests.sh; done

test: format-check test-unit test-e2e test-clients test-asan
	@echo "make test: all suites passed"

bench: build deps
	MATGTO_BIN=$(MATGTO) bench/run.sh

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check: deps
	@out=$$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out" | head -20; echo "clang-format: run 'make format'"; exit 1; fi

clean:
	rm -rf build
