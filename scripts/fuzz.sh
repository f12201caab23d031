#!/usr/bin/env bash
# Builds the libFuzzer target for broker::Core with clang (ASan + UBSan) and runs it for a bounded
# time over a copy of the seed corpus (tests/fuzz/corpus). Exits non-zero on any finding; the
# crashing input is kept under the build dir and can be replayed with conveyor_fuzz_replay.
#   FUZZ_SECONDS=60 scripts/fuzz.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build=${CONVEYOR_FUZZ_BUILD_DIR:-$root/build-fuzz}
"$root/scripts/install-deps.sh" test  # clang and its libFuzzer runtime
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCONVEYOR_FUZZ=ON >/dev/null
cmake --build "$build" --target broker_core_fuzz -- -j"$(nproc)"
work="$build/fuzz-run"
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"
echo "fuzz: running broker_core_fuzz for ${seconds}s"
"$build/tests/fuzz/broker_core_fuzz" "$work/corpus" -max_total_time="$seconds" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
  2>"$work/fuzz.log" || { tail -50 "$work/fuzz.log"; echo "fuzz: FINDING, see $work/artifacts"; exit 1; }
grep -E "stat::number_of_executed_units|cov:|stat::peak_rss_mb" "$work/fuzz.log" | tail -4
echo "fuzz: no finding in ${seconds}s"
