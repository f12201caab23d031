#!/usr/bin/env bash
# Sets everything up and runs a local Conveyor job: a broker, 3 consumers and 2 producers on
# loopback. Each task stands for real work (HANDLER sleep:10: 10 ms, then its payload back), so
# the run lasts a few seconds and its progress can be watched; then a summary. Every process must
# exit 0 through the poison pills.
#   TASKS=20000 CONSUMERS=5 scripts/demo.sh
#   HANDLER=sha256 scripts/demo.sh     # no pretend work: as fast as it goes
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tasks=${TASKS:-5000}
consumers=${CONSUMERS:-3}
handler=${HANDLER:-sleep:10}

"$root/scripts/install-deps.sh"
echo "demo: building (first time takes a few minutes)..."
"$root/scripts/build.sh" -DCONVEYOR_BUILD_TESTS=OFF -DCONVEYOR_BUILD_BENCH=OFF
bin="${CONVEYOR_BUILD_DIR:-$root/build}"
work=$(mktemp -d /tmp/conveyor-demo-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$bin/broker/conveyor-broker" --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' \
  --admin 'tcp://127.0.0.1:*' --producers 2 --exit-when-drained --ready-file "$work/ready.json" \
  2>"$work/broker.log" &
broker=$!; pids+=("$broker")
for _ in $(seq 100); do [[ -s "$work/ready.json" ]] && break; sleep 0.1; done
[[ -s "$work/ready.json" ]] || { echo "demo: the broker did not start:"; cat "$work/broker.log"; exit 1; }
frontend=$(sed -E 's/.*"frontend":"([^"]+)".*/\1/' "$work/ready.json")
backend=$(sed -E 's/.*"backend":"([^"]+)".*/\1/' "$work/ready.json")
echo "demo: broker up (producers -> $frontend, consumers -> $backend); logs in $work"

consumer_pids=()
for i in $(seq "$consumers"); do
  "$bin/consumer/conveyor-consumer" --broker "$backend" --id "c$i" --handler "$handler" \
    --concurrency 4 2>"$work/c$i.log" &
  consumer_pids+=($!); pids+=($!)
done
half=$((tasks / 2))
seq 0 $((tasks - half - 1)) | sed 's/^/line /' > "$work/input.txt"
start=$(date +%s.%N)
"$bin/producer/conveyor-producer" --broker "$frontend" --id p1 --source "gen:$half:64" \
  --results "$work/p1.jsonl" --quiet 2>"$work/p1.log" &
p1=$!; pids+=("$p1")
"$bin/producer/conveyor-producer" --broker "$frontend" --id p2 --source "lines:$work/input.txt" \
  --results "$work/p2.jsonl" --quiet 2>"$work/p2.log" &
p2=$!; pids+=("$p2")

echo "demo: $tasks tasks ($handler) on $consumers consumers x 4 workers"
# Progress from the results files: a line per second, so that it shows in any terminal or log.
while kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null; do
  done_count=$(cat "$work"/p*.jsonl 2>/dev/null | wc -l || true)
  elapsed=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  printf 'demo: %5.1f s  %6d / %d tasks done\n' "$elapsed" "$done_count" "$tasks"
  for _ in 1 2 3 4 5; do
    kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null || break
    sleep 0.2
  done
done

status=0
check() {  # name pid
  local code=0
  wait "$2" || code=$?
  printf 'demo: %-8s exited %d\n' "$1" "$code"
  [[ $code -eq 0 ]] || status=1
}
check p1 "$p1"; check p2 "$p2"
for i in $(seq "$consumers"); do check "c$i" "${consumer_pids[$((i - 1))]}"; done
check broker "$broker"
end=$(date +%s.%N)

total=$(cat "$work"/p*.jsonl | wc -l)
ok=$(cat "$work"/p*.jsonl | grep -c '"status":"ok"' || true)
failed=$((total - ok))
seconds=$(python3 -c "print($end - $start)")
tail -n 1 "$work/p1.log" "$work/p2.log" | grep -v '^==>' | grep -v '^$' | sed 's/^/demo: /'
printf 'demo: summary: %d tasks, %d ok, %d failed, %.2f s, %.0f tasks/s\n' \
  "$total" "$ok" "$failed" "$seconds" "$(python3 -c "print($total / $seconds)")"
grep -h "drained:" "$work/broker.log" | sed 's/^.*\[broker\] /demo: broker: /'
[[ $total -eq $tasks && $failed -eq 0 ]] || { echo "demo: expected $tasks ok results"; status=1; }
exit $status
