#!/usr/bin/env bash
# Runs every test through ctest with the services the tests need started on loopback, and stops
# them again however the run ends. Usage: scripts/run-tests.sh [BUILD_DIR [CTEST_ARGS...]]
# (e.g. scripts/run-tests.sh build -R portals)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
shift || true
jobs="$(nproc)"

# Services: a throw-away PostgreSQL (initdb in a temporary directory, as an unprivileged user,
# on 127.0.0.1 and a free port), given to the tests as SUND_TEST_PG; every test makes a schema
# of its own in it. Mosquitto (Debian's) is started by the MQTT tests themselves, one broker per
# test on a free loopback port, since a test restarts it.
pg_dir=""
cleanup() {
  if [[ -n "$pg_dir" ]]; then "$here/scripts/pg-test-server.sh" stop "$pg_dir"; fi
}
trap cleanup EXIT
pg_out="$("$here/scripts/pg-test-server.sh" start)"
pg_dir="$(echo "$pg_out" | head -1)"
export SUND_TEST_PG="$(echo "$pg_out" | tail -1)"
echo "run-tests: PostgreSQL for the tests at $SUND_TEST_PG"

SUND_MOSQUITTO="${SUND_MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}"
if [[ ! -x "$SUND_MOSQUITTO" ]]; then
  echo "run-tests: mosquitto is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
export SUND_MOSQUITTO

export SUND_TEST_DATA="${SUND_TEST_DATA:-$(cd "$here/.." && pwd)/shared/data}"
export SUND_BIN="$build/bin/sund"
# Each stage's results as JUnit XML (main, debug, tsan, fuzz), which `make evidence` traces to
# the requirements (scripts/evidence.py); a full run starts from none.
build="$(cd "$build" && pwd)"
export SUND_TEST_RESULTS="${SUND_TEST_RESULTS:-$build/test-results}"
mkdir -p "$SUND_TEST_RESULTS"
if [[ $# -eq 0 ]]; then rm -f "$SUND_TEST_RESULTS"/*.xml; fi
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 --output-junit "$SUND_TEST_RESULTS/main.xml" "$@"

# The unit and integration suites again under AddressSanitizer+UBSan and ThreadSanitizer
# (scripts/run-sanitizers.sh), on a full run only; SUND_SKIP_SANITIZERS=1 skips them.
if [[ $# -eq 0 && "${SUND_SKIP_SANITIZERS:-0}" != 1 ]]; then
  "$here/scripts/run-sanitizers.sh"
fi

# The fuzzers (tests/fuzz), a short run of each, in their own clang build (the fuzz preset), on a
# full run only (no ctest arguments) and when clang is there (scripts/install-deps.sh installs
# it). `make fuzz` runs them longer.
if [[ $# -eq 0 && "${SUND_SKIP_FUZZ:-0}" != 1 ]]; then
  if command -v clang++ >/dev/null 2>&1; then
    cd "$here"
    echo "run-tests: building the fuzzers (preset fuzz, build-fuzz/)"
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz
    ctest --preset fuzz -j "$jobs" --output-junit "$SUND_TEST_RESULTS/fuzz.xml"
  else
    echo "run-tests: clang++ is missing, the fuzzers did not run (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
fi
