#!/usr/bin/env bash
# Configures and builds Conveyor into build/ (or $CONVEYOR_BUILD_DIR). Extra arguments go to cmake.
# A new build directory gets Ninja when it is installed, CMake's default generator (Unix
# Makefiles) otherwise, or whatever CMAKE_GENERATOR names; an existing one keeps its generator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CONVEYOR_BUILD_DIR:-$root/build}
generator=()
if [[ -z ${CMAKE_GENERATOR:-} && ! -f $build/CMakeCache.txt ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
