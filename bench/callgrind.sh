#!/usr/bin/env bash
# CPU cost per task of each role, in instructions, with valgrind's callgrind: repeatable to about
# 1 % on a noisy machine where wall-clock figures are not. For each role (broker, producer,
# consumer), that role runs under callgrind in a job of 64 B echo tasks (1 producer, 1 consumer,
# --concurrency 1), once with SMALL and once with LARGE tasks; the difference over LARGE - SMALL is
# the cost of one task, free of startup and shutdown.
#
#   bench/callgrind.sh                      # 20,000 and 120,000 tasks, every role
#   ROLES=broker bench/callgrind.sh         # one role
#   SMALL=10000 LARGE=60000 SIZE=1024 bench/callgrind.sh
#   KEEP_PROFILES=/tmp/cg BENCH_BUILD_DIR=build bench/callgrind.sh   # keep the profiles, own build
#   PRODUCER_ID=bench bench/callgrind.sh    # a producer --id (default: none, the default id)
#   SOURCE=lines ROLES=producer bench/callgrind.sh   # the same payloads from a file: lines: or jsonl:
#   HANDLER=pipe:bench/echo-worker.sh ROLES=consumer bench/callgrind.sh   # another --handler
#
# Prints one line per role and writes them to $BENCH_OUT/callgrind.md (default bench/results/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$root/bench/results}
build=${BENCH_BUILD_DIR:-$root/build-bench}
small=${SMALL:-20000}
large=${LARGE:-120000}
size=${SIZE:-64}
roles=${ROLES:-broker producer consumer}
source_kind=${SOURCE:-gen}
handler=${HANDLER:-echo}
[[ $source_kind =~ ^(gen|lines|jsonl)$ ]] || { echo "callgrind: SOURCE is gen, lines or jsonl" >&2; exit 2; }
deadline=${DEADLINE:-600}
mkdir -p "$out"
work=$(mktemp -d /tmp/conveyor-callgrind-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf 'callgrind: %s\n' "$*" >&2; }

command -v valgrind >/dev/null || {
  log "installing valgrind"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >/dev/null
}
# A build directory configured already (BENCH_BUILD_DIR, e.g. a RelWithDebInfo build with tests)
# is used as it is: reconfiguring it here would switch its tests off and rebuild it.
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVEYOR_BUILD_TESTS=OFF \
    -DCONVEYOR_BUILD_EXAMPLES=OFF -DCONVEYOR_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target conveyor-broker conveyor-producer conveyor-consumer \
  >/dev/null

# The command for ROLE, under callgrind when ROLE is the one measured (its total in FILE).
as_role() {  # as_role ROLE MEASURED FILE CMD...
  local role=$1 measured=$2 file=$3
  shift 3
  if [[ $role == "$measured" ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$file" --dump-instr=no "$@"
  else
    "$@"
  fi
}

# The producer's --source for TASKS tasks: gen:, or a file of the payloads gen: would give (N in
# decimal, padded with '.' to the size), one per line or as {"payload":...} lines.
source_spec() {  # source_spec TASKS
  local tasks=$1 file="$work/source-$1.$source_kind"
  if [[ $source_kind == gen ]]; then
    echo "gen:$tasks:$size"
    return
  fi
  [[ -f $file ]] || awk -v n="$tasks" -v size="$size" -v json="$([[ $source_kind == jsonl ]] && echo 1)" \
    'BEGIN { for (i = 0; i < n; i++) { s = i ""; while (length(s) < size) s = s ".";
             if (json) print "{\"payload\":\"" s "\"}"; else print s } }' >"$file"
  echo "$source_kind:$file"
}

# Runs one job of TASKS tasks with MEASURED under callgrind; prints its instruction total.
job() {  # job MEASURED TASKS
  local measured=$1 tasks=$2 dir
  dir=$(mktemp -d "$work/job-XXXXXX")
  # Heartbeats slow enough for a peer 50 times slower than usual.
  as_role broker "$measured" "$dir/cg.out" "$build/broker/conveyor-broker" \
    --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' --admin '' --producers 1 \
    --exit-when-drained --heartbeat 2s --ready-file "$dir/ready.json" 2>"$dir/broker.log" &
  pids+=($!)
  local broker=$!
  for _ in $(seq 600); do [[ -s $dir/ready.json ]] && break; sleep 0.1; done
  [[ -s $dir/ready.json ]] || { log "the broker did not start"; cat "$dir/broker.log" >&2; exit 1; }
  local frontend backend
  frontend=$(sed -E 's/.*"frontend":"([^"]+)".*/\1/' "$dir/ready.json")
  backend=$(sed -E 's/.*"backend":"([^"]+)".*/\1/' "$dir/ready.json")
  as_role consumer "$measured" "$dir/cg.out" "$build/consumer/conveyor-consumer" \
    --broker "$backend" --handler "$handler" --concurrency 1 2>"$dir/consumer.log" &
  pids+=($!)
  local consumer=$!
  as_role producer "$measured" "$dir/cg.out" "$build/producer/conveyor-producer" \
    --broker "$frontend" --source "$(source_spec "$tasks")" --results /dev/null --quiet \
    ${PRODUCER_ID:+--id "$PRODUCER_ID"} \
    2>"$dir/producer.log" &
  pids+=($!)
  local producer=$!
  local p
  for p in "$producer" "$consumer" "$broker"; do
    timeout "$deadline" tail --pid="$p" -f /dev/null || { log "a process still runs after ${deadline} s"; exit 1; }
    wait "$p" || { log "a process of the $measured job failed"; tail -n 3 "$dir"/*.log >&2; exit 1; }
  done
  # KEEP_PROFILES=DIR keeps each profile, for callgrind_annotate.
  if [[ -n ${KEEP_PROFILES:-} ]]; then mkdir -p "$KEEP_PROFILES" && cp "$dir/cg.out" "$KEEP_PROFILES/$measured-$tasks.cg.out"; fi
  sed -n 's/^summary: //p' "$dir/cg.out"
}

lines=()
for role in $roles; do
  a=$(job "$role" "$small")
  b=$(job "$role" "$large")
  per=$(((b - a) / (large - small)))
  from=""
  [[ $source_kind == gen ]] || from=", source $source_kind:"
  [[ $handler == echo ]] || from="$from, handler $handler"
  line="$role: $per instructions per task (${size} B echo$from; $small tasks: $a, $large tasks: $b)"
  log "$line"
  lines+=("$line")
done
{
  echo "# callgrind, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD)"
  echo
  for l in "${lines[@]}"; do echo "- $l"; done
} >"$out/callgrind.md"
