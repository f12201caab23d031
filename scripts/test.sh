#!/usr/bin/env bash
# Installs what the tests need, builds everything, and runs the whole test suite with CTest:
# unit, integration, multi-host (root) and compose (a container engine) tests. Then, unless CTest
# arguments narrowed the run, the unit tests once more under ASan+UBSan (scripts/sanitize.sh) and
# the broker fuzzer for FUZZ_SECONDS (60; scripts/fuzz.sh).
# CONVEYOR_REQUIRE_ALL=1 (set in CI) makes tests that need root or a container engine fail
# instead of skipping.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" test
# The compose test needs a container engine: in CI, prepare podman when there is none.
setup="$root/../shared/container-setup.sh"
if [[ "${CONVEYOR_REQUIRE_ALL:-0}" == 1 && -f "$setup" ]] &&
  ! command -v podman >/dev/null && ! docker info >/dev/null 2>&1; then
  bash "$setup"
fi
"$root/scripts/build.sh" -DCONVEYOR_BUILD_TESTS=ON -DCONVEYOR_BUILD_BENCH=ON
build="${CONVEYOR_BUILD_DIR:-$root/build}"
ctest --test-dir "$build" --output-on-failure --timeout 600 -j2 "$@"
if (($# == 0)); then
  echo "test: unit tests under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
  "$root/scripts/sanitize.sh"
  echo "test: fuzzing broker::Core for ${FUZZ_SECONDS:-60} s" >&2
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} "$root/scripts/fuzz.sh"
fi
