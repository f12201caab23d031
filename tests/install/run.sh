#!/usr/bin/env bash
# Conveyor installed and used from the outside (DESIGN.md §7.5), from an already-built tree BUILD:
#   install   `cmake --install BUILD --prefix TMP` puts the executables, the static libraries, the
#             headers (conveyor.pb.h too), the CMake package, conveyor.pc and the Python package
#             where the README says;
#   examples  examples/ configured on its own against TMP with CMake's default generator, built,
#             --help of both, then a job: the installed broker with the outside-built consumer
#             and producer, every result checked;
#   pkgconfig a tiny producer program built with `pkg-config --cflags --libs conveyor` alone;
#   python    a job from TMP only: conveyor.producer.run driving the installed conveyor-producer,
#             the installed conveyor-consumer running a conveyor.worker handler (pipe:);
#   deb       `cpack -G DEB` and what `dpkg-deb` says the .deb holds;
#   generator the whole project configured with the default generator, only conveyor_proto and
#             conveyor_common built (protoc writes into a directory every generator must find made).
# Every wait is bounded; what the test started is killed and its temporary tree, BUILD/install-test,
# removed on exit (KEEP=1 keeps it). The tree has the same path in every run, so that ccache
# (CONVEYOR_CXX_LAUNCHER) finds its compilations again: their working directory is part of the key.
#   tests/install/run.sh BUILD
# From CTest: CMAKE, CPACK, CXX (the project's), CONVEYOR_CXX_LAUNCHER, CONVEYOR_SANITIZE.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
cmake=${CMAKE:-cmake}
cpack=${CPACK:-cpack}
cxx=${CXX:-c++}
launcher=${CONVEYOR_CXX_LAUNCHER:-}
started=$(date +%s)
unset CMAKE_GENERATOR  # the default generator is the point: no caller may choose another
export PYTHONDONTWRITEBYTECODE=1

log() { printf 'install-test: [%3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

work=$build/install-test
exec 9>"$build/install-test.lock"
flock -n 9 || die "another run uses $work"
rm -rf "$work"
prefix=$work/prefix
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((status != 0)); then
    for f in "$work"/logs/*.log; do
      [[ -f $f ]] && { echo "---- ${f##*/} (last 40 lines)"; tail -n 40 "$f"; } >&2
    done
  fi
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/logs"
cd "$work"  # the processes' working directory: nothing is found in the source tree by accident

# `run NAME CMD...`: CMD in the foreground, bounded, its output in logs/NAME.log.
run() {
  local name=$1
  shift
  timeout --kill-after=10 300 "$@" >"$work/logs/$name.log" 2>&1 || die "$name: $* (exit $?)"
}
# `start NAME CMD...`: CMD in the background, bounded; its pid in $last.
start() {
  local name=$1
  shift
  timeout --kill-after=5 60 "$@" >"$work/logs/$name.log" 2>&1 &
  last=$!
  pids+=("$last")
}
# `finish PID NAME`: waits for a started process (at most its 60 s) and fails unless it exits 0.
finish() {
  local status=0
  wait "$1" || status=$?
  ((status == 0)) || die "$2 exited $status"
}
# `broker NAME`: the installed broker on ephemeral loopback ports, for one producer; sets
# $frontend, $backend and $broker_pid.
broker() {
  local ready=$work/$1.ready
  start "$1" "$prefix/bin/conveyor-broker" --frontend 'tcp://127.0.0.1:*' \
    --backend 'tcp://127.0.0.1:*' --admin 'tcp://127.0.0.1:*' --ready-file "$ready" \
    --producers 1 --exit-when-drained
  broker_pid=$last
  for _ in $(seq 100); do [[ -f $ready ]] && break; sleep 0.1; done
  [[ -f $ready ]] || die "$1: no --ready-file after 10 s"
  frontend=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frontend"])' "$ready")
  backend=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' "$ready")
}

cmake_args=()
[[ -n ${CXX:-} ]] && cmake_args+=("-DCMAKE_CXX_COMPILER=$cxx")
[[ -n $launcher ]] && cmake_args+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher")
if [[ -n ${CONVEYOR_SANITIZE:-} ]]; then  # the installed libraries need the same runtime
  export CXXFLAGS="-fsanitize=$CONVEYOR_SANITIZE" LDFLAGS="-fsanitize=$CONVEYOR_SANITIZE"
fi

# ---- install -------------------------------------------------------------------------------------
log "cmake --install $build --prefix $prefix"
run install "$cmake" --install "$build" --prefix "$prefix"
for f in bin/conveyor-broker bin/conveyor-producer bin/conveyor-consumer bin/conveyor-ctl \
  bin/conveyor-keygen lib/libconveyor_producer.a lib/libconveyor_consumer.a \
  lib/libconveyor_proto.a lib/libconveyor_common.a lib/libconveyor_runtime.a \
  include/conveyor/producer/producer.hpp include/conveyor/consumer/consumer.hpp \
  include/conveyor/common/client_runtime.hpp include/conveyor/metrics/exporter.hpp \
  include/conveyor/proto/conveyor.pb.h lib/cmake/Conveyor/ConveyorConfig.cmake \
  lib/cmake/Conveyor/ConveyorConfigVersion.cmake lib/cmake/Conveyor/ConveyorTargets.cmake \
  lib/pkgconfig/conveyor.pc lib/python3/dist-packages/conveyor/__init__.py \
  lib/python3/dist-packages/conveyor/worker.py; do
  [[ -f $prefix/$f ]] || die "not installed: $f"
done
# The package names no path of this machine's tree: it works wherever the prefix is moved.
! grep -rq -e "$root" -e "$build" "$prefix/lib/cmake/Conveyor" "$prefix/lib/pkgconfig" ||
  die "the CMake package or conveyor.pc names the build tree"
# The libraries behind the executables only (the broker's, conveyor-ctl's) are not the product.
[[ ! -e $prefix/include/conveyor/broker && ! -e $prefix/lib/libconveyor_broker.a ]] ||
  die "the broker's internals were installed"

# ---- examples, outside the tree ------------------------------------------------------------------
log "examples/ against the prefix, default generator"
run examples-configure "$cmake" -S "$root/examples" -B "$work/examples" \
  -DCMAKE_PREFIX_PATH="$prefix" "${cmake_args[@]}"
[[ -f $work/examples/Makefile ]] || die "the default generator wrote no Makefile"
run examples-build "$cmake" --build "$work/examples" --parallel 2
for exe in json-field-consumer json-records-producer; do
  run "$exe-help" "$work/examples/$exe" --help
  grep -q -- --broker "$work/logs/$exe-help.log" || die "$exe --help names no --broker"
done

log "a job: the installed broker, the examples built outside"
broker broker-examples
start consumer "$work/examples/json-field-consumer" --broker "$backend" --id c1 --field user
consumer_pid=$last
run producer "$work/examples/json-records-producer" --broker "$frontend" --id p1 --count 20 \
  --results "$work/examples.jsonl"
finish "$consumer_pid" json-field-consumer
finish "$broker_pid" conveyor-broker
grep -qx '20 of 20 records ok' "$work/logs/producer.log" || die "the producer's tally is wrong"
python3 - "$work/examples.jsonl" <<'EOF' || die "wrong results from the examples' job"
import json, sys
results = {r["seq"]: r for r in map(json.loads, open(sys.argv[1]))}
assert sorted(results) == list(range(20)), sorted(results)
assert all(r["status"] == "ok" and r["output"] == f"u{seq}" for seq, r in results.items()), results
EOF

# ---- pkg-config ----------------------------------------------------------------------------------
log "a tiny producer built with pkg-config alone"
cat >"$work/tiny.cpp" <<'EOF'
// A producer linked through `pkg-config --cflags --libs conveyor` alone.
#include <conveyor/producer/producer.hpp>

#include <memory>

class Nothing final : public conveyor::producer::Source {
 public:
  std::optional<std::string> next() override { return std::nullopt; }
};

int main() {
  conveyor::producer::Config config;
  config.broker = "tcp://127.0.0.1:1";
  conveyor::producer::Producer producer{config};
  producer.set_source(std::make_unique<Nothing>());
  return 0;
}
EOF
pc_flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs conveyor) ||
  die "pkg-config cannot resolve conveyor"
# shellcheck disable=SC2086  # the flags are words
run tiny-build $launcher "$cxx" -std=c++20 ${CXXFLAGS:-} "$work/tiny.cpp" -o "$work/tiny" \
  $pc_flags ${LDFLAGS:-}
run tiny "$work/tiny"

# ---- Python, from the prefix ---------------------------------------------------------------------
log "a Python job from the prefix: conveyor.producer and conveyor.worker"
export PYTHONPATH="$prefix/lib/python3/dist-packages:$work/py"
mkdir -p "$work/py"
printf 'def upper(task):\n    return task.text.upper()\n' >"$work/py/upper_handler.py"
python3 -c 'import conveyor; print(conveyor.__file__)' >"$work/where"
[[ $(cat "$work/where") == "$prefix"/* ]] || die "conveyor imported from $(cat "$work/where")"
broker broker-python
start py-consumer "$prefix/bin/conveyor-consumer" --broker "$backend" --id pyc \
  --handler 'pipe:python3 -m conveyor.worker upper_handler:upper'
consumer_pid=$last
run py-producer python3 - "$frontend" "$prefix/bin/conveyor-producer" <<'EOF'
import sys
from conveyor import producer
results = producer.run_all([f"task {n}" for n in range(10)], broker=sys.argv[1], id="py1",
                           executable=sys.argv[2], check=True)
expected = [("ok", f"TASK {n}".encode()) for n in range(10)]
assert [(r.status, r.output) for r in results] == expected, results
print(len(results), "Python tasks ok")
EOF
finish "$consumer_pid" "conveyor-consumer (pipe:)"
finish "$broker_pid" conveyor-broker

# ---- the .deb ------------------------------------------------------------------------------------
log "cpack -G DEB"
run cpack "$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$work/deb"
deb=$(ls "$work"/deb/*.deb)
dpkg-deb -c "$deb" | awk '{print $NF}' >"$work/deb.list"
for f in usr/bin/conveyor-broker usr/bin/conveyor-consumer \
  usr/include/conveyor/consumer/consumer.hpp usr/include/conveyor/proto/conveyor.pb.h \
  usr/lib/cmake/Conveyor/ConveyorConfig.cmake usr/lib/libconveyor_producer.a \
  usr/lib/pkgconfig/conveyor.pc usr/lib/python3/dist-packages/conveyor/__init__.py; do
  grep -qx "\./$f" "$work/deb.list" || die "the .deb has no /$f"
done
! grep -q __pycache__ "$work/deb.list" || die "the .deb holds __pycache__"
[[ $(dpkg-deb -f "$deb" Package) == conveyor ]] || die "the .deb is not named conveyor"
depends=$(dpkg-deb -f "$deb" Depends)
for p in libzmq5 libprotobuf32 libspdlog1.10 libfmt9 libssl3 libprometheus-cpp-pull1.0 python3; do
  [[ ", $depends," == *", $p,"* ]] || die "the .deb does not depend on $p: $depends"
done

# ---- the default generator, on the whole project -------------------------------------------------
log "the whole project with the default generator: conveyor_proto, conveyor_common"
run project-configure "$cmake" -S "$root" -B "$work/project" "${cmake_args[@]}"
[[ -f $work/project/Makefile ]] || die "the default generator wrote no Makefile"
run project-build "$cmake" --build "$work/project" --target conveyor_proto conveyor_common \
  --parallel 2
[[ -f $work/project/include/proto/conveyor/proto/conveyor.pb.h ]] || die "no conveyor.pb.h"

log "PASS"
