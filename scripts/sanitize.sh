#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit tests
# (and the fuzz corpus replay) once under them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CONVEYOR_SANITIZE_BUILD_DIR:-$root/build-asan}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCONVEYOR_SANITIZE=address,undefined -DCONVEYOR_BUILD_BENCH=OFF \
  -DCONVEYOR_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target conveyor_unit_tests conveyor_fuzz_replay -- -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$build" -L unit --output-on-failure -j2
