#!/usr/bin/env bash
# Conveyor's benchmark harness: one command, one run, every figure next to a raw ZeroMQ baseline
# measured in the same run on the same machine. Each role is its own process, on loopback.
#
#   bench/run.sh                 # the full run (1,000,000 tasks per throughput row; ~5 minutes)
#   BENCH_QUICK=1 bench/run.sh   # a smoke run (100,000 tasks, shorter latency and flood phases)
#
# Prints a table and writes it, with the raw JSON lines and a PNG chart of tasks/s against the
# number of consumers (gnuplot), to $BENCH_OUT (default bench/results/). No figure here is a pass or
# fail: the targets are in BENCHMARKS.md, and the table shows the ratios to compare with them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$root/bench/results}
build=${BENCH_BUILD_DIR:-$root/build-bench}
quick=${BENCH_QUICK:-0}
tasks=${BENCH_TASKS:-$( ((quick)) && echo 100000 || echo 1000000)}
scale_tasks=${BENCH_SCALE_TASKS:-$( ((quick)) && echo 50000 || echo 300000)}
flood_seconds=${BENCH_FLOOD_SECONDS:-$( ((quick)) && echo 3 || echo 15)}
latency_seconds=${BENCH_LATENCY_SECONDS:-$( ((quick)) && echo 1 || echo 5)}
mkdir -p "$out"
work=$(mktemp -d /tmp/conveyor-bench-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf 'bench: %s\n' "$*" >&2; }

# ---- build ------------------------------------------------------------------------------------
"$root/scripts/install-deps.sh" >/dev/null
command -v gnuplot >/dev/null || {
  log "installing gnuplot-nox for the chart"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox \
    >/dev/null || log "no gnuplot: the chart is skipped"
}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVEYOR_BUILD_TESTS=OFF \
  -DCONVEYOR_BUILD_EXAMPLES=OFF -DCONVEYOR_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
broker_bin=$build/broker/conveyor-broker
producer_bin=$build/producer/conveyor-producer
consumer_bin=$build/consumer/conveyor-consumer
hop_bin=$build/bench/conveyor-bench-zmq
latency_bin=$build/bench/conveyor-bench-latency

# ---- helpers ----------------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start() {  # start NAME CMD...: in the background, output to $work/NAME.log; sets $last_pid
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
wait_ready() {  # wait_ready FILE: the broker's --ready-file, 20 s at most
  for _ in $(seq 200); do [[ -s $1 ]] && return 0; sleep 0.1; done
  log "no ready file $1"
  exit 1
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
rss_peak_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# A broker on fresh ports; sets $frontend, $backend and $broker_pid.
start_broker() {
  local fport bport
  fport=$(free_port)
  bport=$(free_port)
  frontend=tcp://127.0.0.1:$fport
  backend=tcp://127.0.0.1:$bport
  rm -f "$work/ready.json"
  start broker "$broker_bin" --frontend "$frontend" --backend "$backend" \
    --ready-file "$work/ready.json" --admin "" --log-level warn "$@"
  broker_pid=$last_pid
  wait_ready "$work/ready.json"
}
start_consumers() {  # start_consumers N HANDLER [flags]
  local n=$1 handler=$2
  shift 2
  for i in $(seq "$n"); do
    start "consumer$i" "$consumer_bin" --broker "$backend" --id "c$i" \
      --handler "$handler" --concurrency 1 --log-level warn "$@"
  done
}
stop_all() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

# ---- 1. baseline: the raw ZeroMQ hop ------------------------------------------------------------
baseline() {  # baseline TASKS SIZE PER_MESSAGE -> JSON line
  local in_port out_port
  in_port=$(free_port)
  out_port=$(free_port)
  "$hop_bin" sink --bind "tcp://127.0.0.1:$out_port" --tasks "$1" >"$work/sink.json" &
  local sink=$!
  pids+=("$sink")
  start proxy "$hop_bin" proxy --in "tcp://127.0.0.1:$in_port" --out "tcp://127.0.0.1:$out_port"
  "$hop_bin" source --connect "tcp://127.0.0.1:$in_port" --tasks "$1" --size "$2" \
    --per-message "$3"
  timeout 120 tail --pid="$sink" -f /dev/null
  cat "$work/sink.json"
  stop_all
}

# ---- 2, 3. Conveyor end to end ------------------------------------------------------------------
conveyor_run() {  # conveyor_run TASKS SIZE CONSUMERS -> tasks/s
  start_broker --producers 1 --exit-when-drained
  start_consumers "$3" echo
  local started ended
  started=$(date +%s.%N)
  "$producer_bin" --broker "$frontend" --id bench --source "gen:$1:$2" --results /dev/null \
    --quiet --log-level warn 2>"$work/producer.log"
  ended=$(date +%s.%N)
  timeout 60 tail --pid="$broker_pid" -f /dev/null
  stop_all
  python3 -c "print(round($1 / ($ended - $started)))"
}

# ---- 3b. handlers: the same trivial Python handler through exec: and pipe:, and in-process echo --
handler_run() {  # handler_run TASKS HANDLER [consumer flags] -> tasks/s, one consumer
  local n=$1 handler=$2
  shift 2
  start_broker --producers 1 --exit-when-drained
  PYTHONPATH="$root/clients/python:$root/bench" start consumer "$consumer_bin" --broker "$backend" \
    --id c1 --handler "$handler" --log-level warn "$@"
  local started ended
  started=$(date +%s.%N)
  "$producer_bin" --broker "$frontend" --id bench --source "gen:$n:64" --results /dev/null \
    --quiet --log-level warn 2>"$work/producer.log"
  ended=$(date +%s.%N)
  timeout 60 tail --pid="$broker_pid" -f /dev/null
  stop_all
  python3 -c "print(round($n / ($ended - $started)))"
}
handlers_section() {
  local worker="python3 -m conveyor.worker"
  log "handlers: in-process echo, 4 workers"
  h_echo=$(handler_run "$((tasks / 10))" echo --concurrency 4)
  log "handlers: Python through exec: (a process per task), 4 at a time"
  h_exec=$(handler_run 400 "exec:python3 $root/bench/python_echo.py" --concurrency 4)
  log "handlers: Python through pipe:, sync handler, 4 processes"
  h_pipe=$(handler_run 40000 "pipe:$worker python_echo:handle" --concurrency 4)
  log "handlers: Python through pipe:, async handler, 1 process with 4 at a time"
  h_async=$(handler_run 40000 "pipe:$worker python_echo:handle_async" --concurrency 4 \
    --pipe-processes 1)
}
handlers_table() {
  echo "| handler: in-process echo, 1 consumer, 4 workers | $h_echo tasks/s | |"
  echo "| handler: Python via exec: (a process per task) | $h_exec tasks/s | 1.00 × exec |"
  echo "| handler: Python via pipe:, sync, 4 processes | $h_pipe tasks/s | $(ratio "$h_pipe" "$h_exec") × exec |"
  echo "| handler: Python via pipe:, async, 1 process | $h_async tasks/s | $(ratio "$h_async" "$h_exec") × exec |"
}
if [[ ${BENCH_ONLY:-} == handlers ]]; then  # BENCH_ONLY=handlers bench/run.sh: just this table
  ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
  handlers_section
  handlers_table | tee "$out/handlers.md"
  exit 0
fi

# ---- 4. latency at a fixed offered rate ---------------------------------------------------------
latency_run() {  # latency_run RATE -> JSON line
  start_broker --producers 1 --exit-when-drained
  start_consumers 2 echo
  local n=$(($1 * latency_seconds))
  "$latency_bin" --broker "$frontend" --rate "$1" --tasks "$n" 2>"$work/latency.log"
  stop_all
}

# The same round trip through raw ZeroMQ (ROUTER -> DEALER relay, 2 REP echoes), at the same rate.
latency_baseline() {  # latency_baseline RATE -> JSON line
  local in_port out_port
  in_port=$(free_port)
  out_port=$(free_port)
  start relay "$hop_bin" relay --in "tcp://127.0.0.1:$in_port" --out "tcp://127.0.0.1:$out_port"
  for i in 1 2; do start "echo$i" "$hop_bin" echo --connect "tcp://127.0.0.1:$out_port"; done
  local n=$(($1 * latency_seconds))
  timeout 300 "$hop_bin" ping --connect "tcp://127.0.0.1:$in_port" --rate "$1" --tasks "$n"
  stop_all
}

# ---- 5. memory: a flood at one slow consumer ----------------------------------------------------
flood_run() {  # flood_run TASKS -> "broker_mib producer_mib results"
  start_broker --producers 1 --exit-when-drained
  start_consumers 1 sleep:1
  start producer "$producer_bin" --broker "$frontend" --id flood \
    --source "gen:$1:64" --results "$work/flood.jsonl" --quiet --log-level warn
  local producer=$last_pid
  sleep "$flood_seconds"  # a fixed observation window: the flood has no end to wait for
  local broker_mib producer_mib done_count
  broker_mib=$(rss_peak_mib "$broker_pid")
  producer_mib=$(rss_peak_mib "$producer")
  done_count=$(wc -l <"$work/flood.jsonl")
  stop_all
  echo "$broker_mib $producer_mib $done_count"
}

# ---- run everything -----------------------------------------------------------------------------
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
log "baseline: raw ZeroMQ hop, $tasks tasks of 64 B, 1 per message"
b1=$(baseline "$tasks" 64 1)
log "baseline: raw ZeroMQ hop, 100 tasks per message"
b100=$(baseline "$tasks" 64 100)
log "baseline: raw ZeroMQ hop, $tasks tasks of 1 KiB, 1 per message"
b1k=$(baseline "$tasks" 1024 1)
b1_rate=$(json_field "$b1" tasks_per_s)
b1k_rate=$(json_field "$b1k" tasks_per_s)
b100_rate=$(json_field "$b100" tasks_per_s)

log "conveyor: $tasks tasks, 64 B, 1 producer, 2 consumers (echo)"
c64=$(conveyor_run "$tasks" 64 2)
log "conveyor: $tasks tasks, 1 KiB, 2 consumers"
c1k=$(conveyor_run "$tasks" 1024 2)
log "conveyor: $tasks tasks, 64 B, 8 consumers"
c8=$(conveyor_run "$tasks" 64 8)
handlers_section

declare -A latency raw_latency
for rate in 1000 10000 100000; do
  log "latency: $rate tasks/s offered for ${latency_seconds} s, raw ZeroMQ round trip then conveyor"
  raw_latency[$rate]=$(latency_baseline "$rate")
  latency[$rate]=$(latency_run "$rate")
done

log "memory: 5,000,000 tasks flooded at one slow consumer (sleep:1), watched ${flood_seconds} s"
read -r flood_broker flood_producer flood_done < <(flood_run 5000000)

log "scaling: $scale_tasks tasks, 64 B, 1..16 consumers"
: >"$out/scaling.dat"
for n in 1 2 4 8 16; do
  rate=$(conveyor_run "$scale_tasks" 64 "$n")
  printf '%s %s\n' "$n" "$rate" >>"$out/scaling.dat"
done

rabbit="not installed (apt-get install rabbitmq-server to compare)"
command -v rabbitmq-server >/dev/null && rabbit="installed, but not driven by this harness yet"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
{
  echo "| measurement | result | vs baseline 1 |"
  echo "|---|---|---|"
  echo "| baseline 1: raw ZeroMQ hop, 1 task per message | $b1_rate tasks/s | 1.00 |"
  echo "| baseline 100: raw ZeroMQ hop, 100 tasks per message | $b100_rate tasks/s | $(ratio "$b100_rate" "$b1_rate") |"
  echo "| baseline 1 KiB: raw ZeroMQ hop, 1 task of 1 KiB per message | $b1k_rate tasks/s | $(ratio "$b1k_rate" "$b1_rate") |"
  echo "| conveyor, 64 B, 1 producer, 2 consumers, $tasks tasks | $c64 tasks/s | $(ratio "$c64" "$b1_rate") |"
  echo "| conveyor, 1 KiB, 2 consumers | $c1k tasks/s | $(ratio "$c1k" "$b1_rate"); $(ratio "$c1k" "$b1k_rate") × baseline 1 KiB |"
  echo "| conveyor, 64 B, 8 consumers | $c8 tasks/s | $(ratio "$c8" "$b1_rate") |"
  for rate in 1000 10000 100000; do
    l=${latency[$rate]}
    r=${raw_latency[$rate]}
    echo "| latency at $rate tasks/s: p50 / p99 / p99.9 (raw ZeroMQ round trip in the last column) | $(json_field "$l" p50_us) / $(json_field "$l" p99_us) / $(json_field "$l" p999_us) µs | raw $(json_field "$r" p50_us) / $(json_field "$r" p99_us) / $(json_field "$r" p999_us) µs; p99 $(ratio "$(json_field "$l" p99_us)" "$(json_field "$r" p99_us)") × raw |"
  done
  echo "| broker peak RSS, 5M-task flood at 1 slow consumer (${flood_seconds} s, $flood_done done) | $flood_broker MiB (producer $flood_producer MiB) | |"
  while read -r n rate; do
    echo "| scaling: $n consumers, $scale_tasks tasks | $rate tasks/s | $(ratio "$rate" "$b1_rate") |"
  done <"$out/scaling.dat"
  handlers_table
  echo "| RabbitMQ | $rabbit | |"
} | tee "$out/latest.md"
{
  echo "$b1"
  echo "$b100"
  echo "$b1k"
  for rate in 1000 10000 100000; do echo "${raw_latency[$rate]}"; echo "${latency[$rate]}"; done
} >"$out/latest.jsonl"

if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 800,480 noenhanced
set output "$out/scaling.png"
set title "Conveyor: tasks/s against consumers (64 B echo, $scale_tasks tasks, $(nproc) cores)"
set xlabel "consumers"
set ylabel "tasks/s"
set logscale x 2
set xrange [0.8:20]
set xtics ("1" 1, "2" 2, "4" 4, "8" 8, "16" 16)
set yrange [0:*]
set format y "%.0f"
set grid
set key center right
plot "$out/scaling.dat" using 1:2 with linespoints lw 2 title "conveyor", \
     $b1_rate with lines dt 2 title "raw ZeroMQ hop (1 task/message)"
EOF
  log "chart: $out/scaling.png"
fi
log "table: $out/latest.md"
