#!/usr/bin/env bash
# The unit and integration suites under the sanitizers (issue #11): AddressSanitizer with UBSan
# (preset debug, build-debug/) and ThreadSanitizer (preset tsan, build-tsan/). Each preset builds
# the test binaries its build preset names and runs the tests labelled unit or integration, less
# those labelled slow, postgres, e2e or fuzz (CMakePresets.json). The cells and fl suites run
# under both, with Debian's libraries (OpenCV, libtorch, gRPC) uninstrumented: their reports are
# silenced by library in tests/sanitizers/*.supp, never Sund's. Left out of the TSan run by name:
# the fl suites that run the gRPC transport (GrpcTlsTest, TransportTest, RoundsTest), whose
# Abseil mutexes TSan cannot see, so every access they order is reported; they run under ASan.
# Not under the sanitizers: the e2e tests (they run the release binary).
# Usage: scripts/run-sanitizers.sh [PRESET...]   (default: debug tsan)
# Needs SUND_TEST_DATA and SUND_MOSQUITTO as scripts/run-tests.sh sets them; with
# SUND_TEST_RESULTS, writes each preset's results there as JUnit XML (PRESET.xml).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=(debug tsan)
# ccache: the same cache keys from every clone (see the Makefile).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
for preset in "${presets[@]}"; do
  start=$SECONDS
  echo "run-sanitizers: preset $preset: building the test binaries"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "run-sanitizers: preset $preset: running the unit and integration tests"
  junit=()
  if [[ -n "${SUND_TEST_RESULTS:-}" ]]; then junit=(--output-junit "$SUND_TEST_RESULTS/$preset.xml"); fi
  ctest --preset "$preset" -j "$(nproc)" "${junit[@]}"
  echo "run-sanitizers: preset $preset passed in $((SECONDS - start)) s"
done
