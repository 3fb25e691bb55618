# The README's commands. `make demo` and `make test` install what is missing, build, and run.
SHELL := /bin/bash
BUILD ?= build
DATA ?= $(CURDIR)/data
PORT ?= 8080
SHARED ?= $(abspath $(CURDIR)/../shared)
JOBS ?= $(shell nproc)
# ccache: paths relative to the checkout, so that another clone (CI's) reuses the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

FUZZ_SECONDS ?= 300
.PHONY: deps build demo test test-fast sanitize fuzz evidence bench format clean

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset default -DSUND_SHARED_DIR=$(SHARED) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/sund demo --data $(DATA) --port $(PORT) --population $(SHARED)/data/synthea

# Starts what the tests need on loopback (scripts/test-services.sh), runs every test through
# ctest, and stops the services again.
test: build
	@scripts/run-tests.sh $(BUILD)

# Unit tests only (no services).
test-fast: build
	@cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

# The unit and integration suites under ASan+UBSan (build-debug/) and TSan (build-tsan/); make
# test runs them too.
sanitize: deps
	@SUND_TEST_DATA=$(SHARED)/data SUND_MOSQUITTO=$$(command -v mosquitto || echo /usr/sbin/mosquitto) \
	  scripts/run-sanitizers.sh

# Every fuzzer for FUZZ_SECONDS (default 300) on its growing corpus in build-fuzz/fuzz/work;
# tests/fuzz/README.md says what to do with a crash.
fuzz: deps
	@cmake --preset fuzz -DSUND_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build --preset fuzz
	@SUND_FUZZ_SEED=0 ctest --preset fuzz -j $(JOBS)

# Evidence for a technical file (docs/requirements, docs/risks, docs/soup, docs/changes): every
# test as make test runs them, then build/evidence/ (traceability matrix, risk register, SOUP
# list, CycloneDX SBOM, release notes) and the check that CI runs. The evidence is written also
# when tests fail (it shows which).
evidence: build
	@status=0; scripts/run-tests.sh $(BUILD) || status=$$?; \
	  python3 scripts/evidence.py generate --build $(BUILD) || status=1; \
	  python3 scripts/evidence.py check --build $(BUILD) || status=1; \
	  exit $$status

bench: build
	@bench/run.sh

format:
	@find src apps tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
