#!/usr/bin/env bash
# Runs every test through ctest with the services the tests need started on loopback, and stops
# them again however the run ends. Usage: scripts/run-tests.sh [BUILD_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
jobs="$(nproc)"

# Services: PostgreSQL arrives with #9 (started here, bound to 127.0.0.1 on a free port, and
# exported to the tests through the environment). Mosquitto (Debian's) is started by the MQTT
# tests themselves, one broker per test on a free loopback port, since a test restarts it.
cleanup() { :; }
trap cleanup EXIT

SUND_MOSQUITTO="${SUND_MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}"
if [[ ! -x "$SUND_MOSQUITTO" ]]; then
  echo "run-tests: mosquitto is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
export SUND_MOSQUITTO

export SUND_TEST_DATA="${SUND_TEST_DATA:-$(cd "$here/.." && pwd)/shared/data}"
export SUND_BIN="$build/bin/sund"
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
