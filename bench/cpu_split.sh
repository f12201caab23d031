#!/usr/bin/env bash
# Where one job's CPU goes, process by process: the conveyor row of bench/run.sh (1 producer,
# CONSUMERS echo consumers, TASKS tasks of SIZE bytes, 64 by default) with each process under
# /usr/bin/time, so that user and system seconds, context switches and minor page faults (fresh
# pages taken) per process sit next to the job's tasks/s.
#
#   BENCH_BUILD_DIR=build-bench CONSUMERS=2 TASKS=1000000 bench/cpu_split.sh
#   PRODUCER_ARGS="--window 40000" CONSUMERS=16 bench/cpu_split.sh   # more producer flags
#
# callgrind (bench/callgrind.sh) counts instructions, repeatably; this shows the wall-clock side
# of the same job on this machine (cache misses, wake-ups, the kernel), noisily: run it twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
consumers=${CONSUMERS:-2}
tasks=${TASKS:-1000000}
size=${SIZE:-64}
work=$(mktemp -d /tmp/conveyor-cpu-split-XXXXXX)
pids=()
cleanup() {
  # Each pid is a /usr/bin/time, which does not pass a SIGKILL on: its child goes first, or an
  # early exit (a failed producer) would leave the broker and consumers running.
  for pid in "${pids[@]}"; do
    pkill -9 -P "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
[[ -x /usr/bin/time ]] || { echo "cpu_split: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
for bin in broker/conveyor-broker producer/conveyor-producer consumer/conveyor-consumer; do
  [[ -x $build/$bin ]] || { echo "cpu_split: no $build/$bin (run bench/run.sh once)" >&2; exit 1; }
done

timed() {  # timed NAME CMD...: CMD under /usr/bin/time, its line in $work/NAME.time
  local name=$1
  shift
  /usr/bin/time -o "$work/$name.time" -f "$name user=%U s sys=%S s wall=%e s voluntary=%w involuntary=%c minor_faults=%R" "$@"
}

timed broker "$build/broker/conveyor-broker" --frontend 'tcp://127.0.0.1:*' \
  --backend 'tcp://127.0.0.1:*' --admin '' --producers 1 --exit-when-drained \
  --ready-file "$work/ready.json" --log-level warn 2>"$work/broker.log" &
pids+=($!)
broker=$!
for _ in $(seq 200); do [[ -s $work/ready.json ]] && break; sleep 0.1; done
[[ -s $work/ready.json ]] || { echo "cpu_split: the broker did not start" >&2; exit 1; }
frontend=$(sed -E 's/.*"frontend":"([^"]+)".*/\1/' "$work/ready.json")
backend=$(sed -E 's/.*"backend":"([^"]+)".*/\1/' "$work/ready.json")
for i in $(seq "$consumers"); do
  timed "consumer$i" "$build/consumer/conveyor-consumer" --broker "$backend" --id "c$i" \
    --handler echo --concurrency 1 --log-level warn 2>"$work/consumer$i.log" &
  pids+=($!)
done
started=$(date +%s.%N)
timeout 300 /usr/bin/time -o "$work/producer.time" \
  -f "producer user=%U s sys=%S s wall=%e s voluntary=%w involuntary=%c minor_faults=%R" \
  "$build/producer/conveyor-producer" --broker "$frontend" --id bench --source "gen:$tasks:$size" \
  --results /dev/null --quiet --log-level warn ${PRODUCER_ARGS:-} 2>"$work/producer.log"
# (PRODUCER_ARGS unquoted on purpose: split into flags at spaces.)
ended=$(date +%s.%N)
timeout 60 tail --pid="$broker" -f /dev/null
# Each background pid is the shell running /usr/bin/time, which writes its line before it ends.
for pid in "${pids[@]}"; do timeout 60 tail --pid="$pid" -f /dev/null || true; done
python3 -c "print(f'{$tasks} tasks of $size B, $consumers consumers: {$tasks / ($ended - $started):.0f} tasks/s')"
cat "$work/broker.time" "$work/producer.time" "$work"/consumer*.time
