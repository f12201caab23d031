#!/usr/bin/env bash
# Installs the Debian 12 packages Conveyor builds and tests with. Idempotent: it only calls
# apt-get when a package is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config protobuf-compiler
  libzmq3-dev cppzmq-dev libprotobuf-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libssl-dev prometheus-cpp-dev libcivetweb-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3
)
# Extra groups on request: `install-deps.sh test` adds what the full suite needs.
if [[ "${1:-}" == "test" ]]; then
  # multi-host tests (network namespaces), the libFuzzer build (clang), the compose test's checks,
  # the metrics test's real Prometheus, the CURVE loopback capture (tcpdump), the status page's
  # headless browser test (chromium)
  packages+=(iproute2 procps clang libclang-rt-14-dev prometheus tcpdump chromium)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
