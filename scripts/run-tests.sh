#!/usr/bin/env bash
# Runs every test through ctest with the services the tests need started on loopback, and stops
# them again however the run ends. Usage: scripts/run-tests.sh [BUILD_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
jobs="$(nproc)"

# Services arrive with later issues (PostgreSQL with #9, Mosquitto with #5); each is started
# here, bound to 127.0.0.1 on a free port, and exported to the tests through the environment.
cleanup() { :; }
trap cleanup EXIT

export SUND_TEST_DATA="${SUND_TEST_DATA:-$(cd "$here/.." && pwd)/shared/data}"
export SUND_BIN="$build/bin/sund"
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
