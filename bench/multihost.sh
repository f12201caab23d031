#!/usr/bin/env bash
# Consumers on hosts of their own: the broker, the producer and each consumer in a network
# namespace of its own, joined by veth links to a bridge (the "switch"), as on separate machines.
# The handler is `sleep:MS` with --concurrency W, work that waits rather than computes, so the
# measure is how throughput grows with consumers when each one brings capacity (its own host's
# cores, here its own sleeping workers), not how two cores are shared:
#
#   BENCH_BUILD_DIR=build-bench bench/multihost.sh            # 1, 2, 4, 8, 16 consumers
#   CONSUMER_COUNTS="1 4" SLEEP_MS=1 WORKERS=4 SECONDS_PER_RUN=2 bench/multihost.sh
#
# Prints one line per count: tasks/s, and the ratio to the ideal (consumers x workers x 1000 /
# SLEEP_MS). Needs root (ip netns); touches only the namespaces and links it creates, and deletes
# them on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
counts=${CONSUMER_COUNTS:-1 2 4 8 16}
sleep_ms=${SLEEP_MS:-10}
workers=${WORKERS:-4}
seconds=${SECONDS_PER_RUN:-2}
[[ $(id -u) == 0 ]] || { echo "multihost.sh: needs root to create network namespaces" >&2; exit 1; }
command -v ip >/dev/null || { echo "multihost.sh: needs iproute2 (apt-get install iproute2)" >&2; exit 1; }
for bin in broker/conveyor-broker producer/conveyor-producer consumer/conveyor-consumer; do
  [[ -x $build/$bin ]] || { echo "multihost.sh: no $build/$bin (build it first)" >&2; exit 1; }
done

prefix=cvb$$  # interface names stay under 15 characters: cvb<pid>h<n>
switch=${prefix}sw
namespaces=()
pids=()
work=$(mktemp -d /tmp/conveyor-multihost-XXXXXX)
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$switch"
namespaces+=("$switch")
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up

add_host() {  # add_host N: namespace ${prefix}hN at 10.251.0.N, plugged into the switch
  local n=$1 ns=${prefix}h$1
  ip netns add "$ns"
  namespaces+=("$ns")
  ip link add "${prefix}h$n" type veth peer name "${prefix}p$n"
  ip link set "${prefix}h$n" netns "$ns"
  ip link set "${prefix}p$n" netns "$switch"
  ip -n "$switch" link set "${prefix}p$n" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.251.0.$n/24" dev "${prefix}h$n"
  ip -n "$ns" link set "${prefix}h$n" up
}
on() {  # on N CMD...: runs CMD on host N
  local n=$1
  shift
  ip netns exec "${prefix}h$n" "$@"
}

max=0
for c in $counts; do ((c > max)) && max=$c; done
add_host 1  # the broker
add_host 2  # the producer
for i in $(seq "$max"); do add_host $((i + 2)); done

# One job: the broker on host 1, COUNT consumers on hosts 3.., the producer on host 2; tasks/s.
job() {  # job COUNT
  local count=$1 tasks
  tasks=$((count * workers * 1000 * seconds / sleep_ms))
  rm -f "$work/ready.json"
  on 1 "$build/broker/conveyor-broker" --frontend tcp://10.251.0.1:5555 \
    --backend tcp://10.251.0.1:5556 --admin '' --producers 1 --exit-when-drained \
    --ready-file "$work/ready.json" --log-level warn 2>"$work/broker.log" &
  pids+=($!)
  local broker=$!
  for _ in $(seq 100); do [[ -s $work/ready.json ]] && break; sleep 0.1; done
  [[ -s $work/ready.json ]] || { echo "multihost.sh: the broker did not start" >&2; exit 1; }
  for i in $(seq "$count"); do
    on $((i + 2)) "$build/consumer/conveyor-consumer" --broker tcp://10.251.0.1:5556 --id "c$i" \
      --handler "sleep:$sleep_ms" --concurrency "$workers" --log-level warn \
      2>"$work/consumer$i.log" &
    pids+=($!)
  done
  local started ended
  started=$(date +%s.%N)
  timeout 300 ip netns exec "${prefix}h2" "$build/producer/conveyor-producer" \
    --broker tcp://10.251.0.1:5555 --id bench --source "gen:$tasks:64" --results /dev/null \
    --quiet --log-level warn 2>"$work/producer.log"
  ended=$(date +%s.%N)
  timeout 60 tail --pid="$broker" -f /dev/null
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
  python3 -c "r = $tasks / ($ended - $started); ideal = $count * $workers * 1000 / $sleep_ms
print(f'{$count} consumers on their own hosts, {$workers} workers each, sleep:{$sleep_ms}: {r:.0f} tasks/s, {r / ideal:.2f} of {ideal:.0f}')"
}

echo "# multihost.sh, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores"
for c in $counts; do job "$c"; done
