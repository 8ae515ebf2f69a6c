# matgto — the two commands a newcomer needs are `make run` and `make test`.
# Everything they need is installed by scripts/ (apt, pip, npm, go, maven).

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
JOBS ?= $(shell nproc)
MATGTO := $(ROOT)/build/dev/bin/matgto
MATGTO_ASAN := $(ROOT)/build/asan/bin/matgto
MATGTO_TSAN := $(ROOT)/build/tsan/bin/matgto
# make fuzz: seconds per target, and which targets (default: all, see tests/fuzz/run.sh)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
# make soak: length and request rate
SOAK_SECONDS ?= 600
SOAK_RATE ?= 200
# ccache (the user's own cache dir) with paths made relative, so a second
# checkout or CI's fresh clone reuses the objects of the first.
export CCACHE_BASEDIR := $(ROOT)
export CCACHE_NOHASHDIR := 1

.PHONY: help deps deps-build deps-fuzz build build-asan build-tsan build-fuzz run test \
        test-unit test-asan test-tsan test-e2e test-clients fuzz bench soak format \
        format-check clean image-test helm-test testcontainers-test

help:
	@echo "make run     install what is missing, build, start the server (proxy 127.0.0.1:8888, control 127.0.0.1:8889, ./cassettes)"
	@echo "make test    install, build, run every test: C++ unit (+ASan/UBSan), end-to-end, every client"
	@echo "make build   build only (binary: build/dev/bin/matgto)"
	@echo "make bench   replay throughput/latency vs nginx serving the same body, same run;"
	@echo "             10,000 idle connections and 1,000 slowloris clients against normal requests"
	@echo "make fuzz    libFuzzer (clang, ASan+UBSan) on every fuzz target, FUZZ_SECONDS each (default 60)"
	@echo "make test-tsan  ThreadSanitizer: the concurrency unit tests and the e2e sessions tests"
	@echo "make soak    fixed request rate for SOAK_SECONDS (default 600): RSS start/end, errors"
	@echo "make image-test  the container image with podman: build, record, replay offline (slow)"
	@echo "make helm-test   the Helm chart (deploy/helm/matgto): lint, template, rendered env runs matgto"
	@echo "make testcontainers-test  the Testcontainers modules (Python, Java, Go) against podman's Docker API (slow)"

deps-build:
	@scripts/install-deps.sh build

# SeaweedFS (the S3 store tests' object store) is built once into
# ${MATGTO_CACHE:-~/.cache/matgto}: ~5 min and ~3.4 GB of Go modules the
# first time, nothing after.
deps:
	@scripts/install-deps.sh test
	@scripts/install-client-toolchains.sh
	@scripts/venv.sh
	@scripts/seaweedfs.sh >/dev/null

build: deps-build
	@cmake --preset dev >/dev/null
	@cmake --build build/dev -j$(JOBS)

deps-fuzz:
	@scripts/install-deps.sh fuzz

build-asan: deps-build
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j$(JOBS)

# ThreadSanitizer build: only what test-tsan runs (the server and the tests
# of the code that is shared across threads), not every test binary.
TSAN_TARGETS := matgto replay_test cassette_test
build-tsan: deps-build
	@scripts/abseil-tsan-source.sh build/abseil-src
	@cmake --preset tsan >/dev/null
	@cmake --build build/tsan -j$(JOBS) --target $(TSAN_TARGETS)

# The libFuzzer binaries: clang 14, -fsanitize=fuzzer-no-link,address,undefined
# on every library they link (see tests/fuzz/CMakeLists.txt).
build-fuzz: deps-fuzz
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j$(JOBS) --target fuzzers

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

# Sessions (routing, leases, concurrent exchanges, stop/save while requests
# are in flight), the journal writer thread, then the e2e sessions and HTTPS
# interception tests (leaf certificates and their TLS contexts shared by the
# I/O threads) against the TSan server. Suppressions: tests/tsan.supp
# (third-party only).
TSAN_TESTS := SessionsTest\.|SessionManagerTest\.|SessionManagerSaveFailureTest\.|JournalTest\.|FileStore|StorageSafetyTest\.EntriesAppended
test-tsan: build-tsan deps
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(ROOT)/tests/tsan.supp" \
	  ctest --preset tsan -j$(JOBS) -R '$(TSAN_TESTS)'
	MATGTO_BIN=$(MATGTO_TSAN) TSAN_OPTIONS="exitcode=66 suppressions=$(ROOT)/tests/tsan.supp" \
	  build/venv/bin/python -m pytest -q tests/e2e/test_sessions.py tests/e2e/test_https.py

# Two workers: every test starts its own servers on ports it picks, so they run
# side by side (the ASan run above stays serial: twice the memory and CPU).
test-e2e: build deps
	MATGTO_BIN=$(MATGTO) build/venv/bin/python -m pytest -q -n $(JOBS) tests/e2e

# One client at a time, so the Rust client's crates build on every core.
test-clients: build deps
	@set -e; for c in python node go java rust; do \
	  echo "== clients/$$c"; MATGTO_BIN=$(MATGTO) CARGO_BUILD_JOBS=$(JOBS) clients/$$c/run-tests.sh; done

test: format-check test-unit test-e2e test-clients test-asan
	@echo "make test: all suites passed"

# PEERS=1: also Talkback, Mountebank, WireMock and mitmproxy, installed by
# scripts/install-peers.sh (apt, npm into build/bench/peers), same load.
bench: build deps
	MATGTO_BIN=$(MATGTO) bench/run.sh $(if $(filter 1,$(PEERS)),--peers)

# libFuzzer on every target (tests/fuzz/run.sh): FUZZ_SECONDS each, one after
# the other over tests/fuzz/corpus/<target>/; fails if any input crashed.
fuzz: build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

# The container image, built and run with podman (deploy/test-image.sh):
# slow (a debootstrap base, an image build), so not part of `make test`.
image-test: build
	MATGTO_BIN=$(MATGTO) deploy/test-image.sh

# The Helm chart: helm lint --strict / helm template and tests/helm (the
# rendered environment starts the real binary). helm is built once from its Go
# module (scripts/helm.sh: ~6 min the first time, cached; $$HELM overrides).
helm-test: build
	@scripts/venv.sh
	HELM="$$(scripts/helm.sh)" MATGTO_BIN=$(MATGTO) build/venv/bin/python -m pytest -q -p no:cacheprovider tests/helm
# The Testcontainers modules (clients/testcontainers/run-tests.sh): the image as above, then
# `podman system service` as the Docker API; a few minutes, so not part of `make test`.
testcontainers-test: build
	MATGTO_BIN=$(MATGTO) clients/testcontainers/run-tests.sh

soak: build deps
	MATGTO_BIN=$(MATGTO) SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RATE=$(SOAK_RATE) \
	  build/venv/bin/python bench/load.py soak

# (New files too, before their first commit: format-check sees them once committed.)
format:
	@git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs clang-format -i

format-check: deps
	@out=$$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out" | head -20; echo "clang-format: run 'make format'"; exit 1; fi

clean:
	rm -rf build
