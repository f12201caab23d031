#!/usr/bin/env bash
# What idle consumers cost: a broker and CONSUMERS consumers with nothing to do, and the context
# switches (voluntary and not) of every thread of each process over SECONDS, per second. An idle
# consumer should wake for heartbeats only (issue 17: "idle consumers must cost nothing").
#
#   BENCH_BUILD_DIR=build-bench bench/idle.sh                 # 1 consumer, 10 s
#   CONSUMERS=16 SECONDS_IDLE=20 bench/idle.sh
#
# Prints one line per process (the consumers' mean and max) and the per-thread split of the first
# consumer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
consumers=${CONSUMERS:-1}
seconds=${SECONDS_IDLE:-10}
work=$(mktemp -d /tmp/conveyor-idle-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for bin in broker/conveyor-broker consumer/conveyor-consumer; do
  [[ -x $build/$bin ]] || { echo "idle: no $build/$bin (build it first)" >&2; exit 1; }
done

"$build/broker/conveyor-broker" --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' \
  --admin '' --ready-file "$work/ready.json" --log-level warn 2>"$work/broker.log" &
pids+=($!)
broker=$!
disown  # killed at the end without a "Killed" line each
for _ in $(seq 200); do [[ -s $work/ready.json ]] && break; sleep 0.05; done
[[ -s $work/ready.json ]] || { echo "idle: the broker did not start" >&2; exit 1; }
backend=$(sed -E 's/.*"backend":"([^"]+)".*/\1/' "$work/ready.json")
for i in $(seq "$consumers"); do
  "$build/consumer/conveyor-consumer" --broker "$backend" --id "idle$i" --handler echo \
    --log-level warn 2>"$work/consumer$i.log" &
  pids+=($!)
  disown
done
# Welcomed: the broker's status counts them (its log says nothing at warn); a second is plenty on
# loopback, and a consumer still connecting would only add wake-ups, not hide them.
sleep 1

switches() {  # switches PID: context switches of every thread so far, one "TID NAME N" per line
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" \
      "$(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")"
  done
}
for pid in "${pids[@]}"; do switches "$pid" >"$work/$pid.before"; done
sleep "$seconds"
for pid in "${pids[@]}"; do switches "$pid" >"$work/$pid.after"; done

rate() {  # rate PID: context switches per second of PID over the window
  join "$work/$1.before" "$work/$1.after" | awk -v s="$seconds" '{n += $5 - $3} END {printf "%.1f", n / s}'
}
echo "broker: $(rate "$broker") context switches/s (all threads)"
rates=()
for pid in "${pids[@]:1}"; do rates+=("$(rate "$pid")"); done
printf '%s\n' "${rates[@]}" | awk -v n="$consumers" \
  '{s += $1; if ($1 > m) m = $1} END {printf "%d idle consumers: %.1f context switches/s each (max %.1f)\n", n, s / n, m}'
echo "first consumer, by thread:"
join "$work/${pids[1]}.before" "$work/${pids[1]}.after" |
  awk -v s="$seconds" '{printf "  %s %s: %.1f/s\n", $1, $2, ($5 - $3) / s}'
