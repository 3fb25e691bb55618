#!/usr/bin/env bash
# Installs what Sund needs to build, test and benchmark on Debian 12, and only what is missing.
# Safe to rerun. Usage: scripts/install-deps.sh [--no-npm]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages: build, libraries, test services, benchmark peers.
packages=(
  # build
  cmake ninja-build g++ ccache pkg-config
  # libraries (ARCHITECTURE.md, Dependencies)
  libboost-dev rapidjson-dev libsqlite3-dev sqlite3 libssl-dev libspdlog-dev libfmt-dev
  libcli11-dev libbz2-dev zlib1g-dev libargon2-dev
  # cells: OpenCV's modules without the GUI ones (libopencv-dev would pull in VTK and Qt),
  # YAML for bioimage.io model descriptions, Eigen for the curve fits
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-dnn-dev
  libyaml-cpp-dev libeigen3-dev
  # cells: TorchScript models and training on the CPU (ARCHITECTURE.md: libtorch 1.13)
  libtorch-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev wrk nginx-light time
  # the cells benchmark's peer (scikit-image on Debian's own python3)
  python3-skimage
  # the MQTT broker the IoMT gateway subscribes to (started per test run on loopback)
  mosquitto mosquitto-clients
  # end-to-end clients (and the headless browser that Playwright drives)
  nodejs chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # nginx-light (a benchmark peer) and mosquitto (started per test run on its own port) must
  # never stay behind as system services listening on the machine.
  for service in nginx mosquitto; do
    if command -v systemctl >/dev/null 2>&1; then "${sudo_cmd[@]}" systemctl disable --now "$service" 2>/dev/null || true; fi
    if [[ -x "/etc/init.d/$service" ]]; then "${sudo_cmd[@]}" "/etc/init.d/$service" stop >/dev/null 2>&1 || true; fi
  done
  pkill -x nginx 2>/dev/null || true
else
  echo "install-deps: all Debian packages present"
fi

# npm packages for the end-to-end tests (real FHIR clients), pinned by package-lock.json.
if [[ "${1:-}" != "--no-npm" && -f "$here/tests/e2e/package.json" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm is missing (nodejs package without npm); install Debian's npm" >&2
    exit 1
  fi
  if [[ ! -d "$here/tests/e2e/node_modules" || "$here/tests/e2e/package-lock.json" -nt "$here/tests/e2e/node_modules" ]]; then
    echo "install-deps: npm ci in tests/e2e"
    (cd "$here/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
fi
