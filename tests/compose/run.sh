#!/usr/bin/env bash
# Runs docker-compose.yml and deploy/*.yml for real, with the commands README.md shows, under
# Docker Compose where a Docker engine runs, else under podman-compose (1.0.3 in Debian 12;
# ../shared/container-setup.sh prepares podman when it exists). One image build serves every step:
#   stack    `docker stack config` (Swarm's schema, offline) accepts docker-compose.yml, with each
#            override file, and the per-host files;
#   batch    CONSUMERS=SCALE (8) `up --exit-code-from producer` on the named data volume: SCALE
#            consumer containers, each of which did tasks (the results' "consumer" field); every
#            container exits 0 through the poison pills; the README's retrieval command (`run ... cat
#            | grep '^{' > results.jsonl`) gives JSON lines, exactly one per task, each checked;
#            then the README's `down -v` with CONSUMERS unset leaves no container, network or
#            volume of the project;
#   curve    the batch job over CurveZMQ (deploy/curve.override.yml), every service started at
#            once (nothing waits for the healthcheck); `down` leaves no container or network;
#   stop     a slow job: the broker's healthcheck passes (under podman, which runs no healthcheck
#            without systemd, `podman healthcheck run`), one busy consumer gets `docker stop`
#            (SIGTERM, 10 s grace) and must drain and exit 0 while the job still completes;
#   deploy   deploy/{consumer,broker,producer}.compose.yml as three projects, as on three hosts,
#            the consumers started before the broker: they reach its published ports via
#            BROKER_HOST and wait for it;
#   service  deploy/service.override.yml: consumers outlive two producer runs, then `stop` on the
#            broker pills them; `down -v` leaves nothing.
# Everything the test started is torn down on exit, whatever happened. Without an engine it exits
# 77 (skipped), or fails when CONVEYOR_REQUIRE_ALL=1. Every wait has a deadline; together they stay
# within CTest's TIMEOUT (1500 s), so the teardown always runs.
#   TASKS=3000 SIZE=64 SCALE=8 KEEP=1 tests/compose/run.sh   # KEEP=1 keeps the work directory
#   COMPOSE_TEST_BUILD=0 COMPOSE_TEST_IMAGE=conveyor:latest tests/compose/run.sh   # no build
#   DEPLOY_BROKER_HOST=host.docker.internal tests/compose/run.sh   # where `hostname -I` is no good
# shellcheck disable=SC2046  # file_args: "-f FILE ..." is split into words on purpose
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
setup_script="$root/../shared/container-setup.sh"
tasks=${TASKS:-3000}
size=${SIZE:-64}
scale=${SCALE:-8}
stop_tasks=${STOP_TASKS:-600}
image=${COMPOSE_TEST_IMAGE:-localhost/conveyor-compose-test:latest}
build=${COMPOSE_TEST_BUILD:-1}
project="conveyor-compose-$$"
started=$(date +%s)

log() { printf 'compose-test: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
skip() {
  if [[ "${CONVEYOR_REQUIRE_ALL:-0}" == 1 ]]; then
    die "$* (CONVEYOR_REQUIRE_ALL=1: this test must run)"
  fi
  log "SKIP: $*"
  exit 77
}

# The test sets every variable the compose files read; none may leak in from the caller.
while read -r name; do
  [[ $name == CONVEYOR_REQUIRE_ALL ]] || unset "$name"
done < <(compgen -e | grep -E '^(CONVEYOR_|COMPOSE_(FILE|PROJECT_NAME|PROFILES|PATH_SEPARATOR)$)' || true)
unset CONSUMERS BROKER_HOST

work=$(mktemp -d /tmp/conveyor-compose-XXXXXX)
mkdir -p "$work/logs"

# ---- stack: Swarm's schema accepts the files (the docker client alone, no engine) ----------------
stack_config() {  # FILE...: `docker stack config -c FILE ...` from the repository's root
  local f args=()
  for f in "$@"; do args+=(-c "$f"); done
  (cd "$root" && BROKER_HOST=broker.example.com CONVEYOR_PRODUCER_ID=p1 \
    timeout 60 docker stack config "${args[@]}" >/dev/null 2>>"$work/logs/stack.log")
}
if command -v docker >/dev/null; then
  for files in "docker-compose.yml" "docker-compose.yml deploy/curve.override.yml" \
    "docker-compose.yml deploy/service.override.yml" deploy/broker.compose.yml \
    deploy/consumer.compose.yml deploy/producer.compose.yml; do
    # shellcheck disable=SC2086  # a space-separated list of files
    stack_config $files || { cat "$work/logs/stack.log" >&2; die "stack: docker stack config rejects $files"; }
  done
  log "stack: docker stack config accepts docker-compose.yml (alone and with each override) and deploy/*.compose.yml"
elif [[ "${CONVEYOR_REQUIRE_ALL:-0}" == 1 ]]; then
  die "stack: no docker client for \`docker stack config\` (CONVEYOR_REQUIRE_ALL=1: this check must run)"
else
  log "stack: no docker client, \`docker stack config\` not checked"
fi

# ---- the container engine ------------------------------------------------------------------------
docker_engine() {
  command -v docker >/dev/null && timeout 30 docker info >/dev/null 2>&1 &&
    timeout 30 docker compose version >/dev/null 2>&1
}
podman_engine() {
  command -v podman >/dev/null && command -v podman-compose >/dev/null &&
    podman image exists docker.io/library/debian:bookworm-slim &&
    podman image exists docker.io/library/debian:bookworm
}
if docker_engine; then
  engine=docker
  compose_cmd=(docker compose)
else
  if ! podman_engine && [[ -f "$setup_script" && $(id -u) -eq 0 ]]; then
    log "preparing podman with $setup_script"
    timeout 1200 bash "$setup_script" || die "$setup_script failed"
  fi
  podman_engine || { rm -rf "$work"; skip "no container engine: neither docker (with compose) nor podman-compose"; }
  engine=podman
  compose_cmd=(podman-compose)
fi
command -v python3 >/dev/null || { rm -rf "$work"; skip "python3 is needed to check the results"; }
if [[ $engine == docker ]]; then
  log "engine: $(docker version --format 'docker {{.Server.Version}}'), $(docker compose version)"
else
  log "engine: $(podman --version), $(podman-compose version 2>/dev/null | grep -m1 -i 'compose.* version')"
fi

projects=()
declare -A project_file=()

# ---- teardown, whatever happened -----------------------------------------------------------------
teardown() {
  local status=$? p
  local -a ids
  trap - EXIT INT TERM
  set +e
  # The deploy/ files insist on these; any value does for `down`.
  export BROKER_HOST=${BROKER_HOST:-unused} CONVEYOR_PRODUCER_ID=${CONVEYOR_PRODUCER_ID:-unused}
  for p in "${projects[@]}"; do
    if [[ $engine == docker ]]; then
      timeout 120 docker compose -p "$p" $(file_args "$p") down -v --remove-orphans --timeout 5 \
        >>"$work/logs/teardown.log" 2>&1
    else
      timeout 120 podman-compose -p "$p" $(file_args "$p") down -v -t 5 >>"$work/logs/teardown.log" 2>&1
    fi
    # Belt and braces: whatever still carries the project's label goes.
    mapfile -t ids < <(timeout 60 $engine ps -aq --filter "label=com.docker.compose.project=$p")
    ((${#ids[@]} == 0)) || timeout 120 $engine rm -f "${ids[@]}" >>"$work/logs/teardown.log" 2>&1
    mapfile -t ids < <(timeout 60 $engine volume ls -q --filter "label=com.docker.compose.project=$p")
    ((${#ids[@]} == 0)) || timeout 60 $engine volume rm -f "${ids[@]}" >>"$work/logs/teardown.log" 2>&1
    mapfile -t ids < <(timeout 60 $engine network ls -q --filter "label=com.docker.compose.project=$p")
    ((${#ids[@]} == 0)) || timeout 60 $engine network rm "${ids[@]}" >>"$work/logs/teardown.log" 2>&1
    if [[ -n $(timeout 60 $engine ps -aq --filter "label=com.docker.compose.project=$p") ]]; then
      log "teardown: containers of $p are left over"
      status=1
    fi
  done
  if [[ $status -ne 0 && $status -ne 77 ]]; then
    log "logs and data kept in $work"
  elif [[ "${KEEP:-0}" == 1 ]]; then
    log "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  log "done in $(($(date +%s) - started)) s, status $status"
  exit $status
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers -------------------------------------------------------------------------------------
# compose PROJECT ARGS...: the compose command for one project (on its files), with a deadline;
# its output goes to the project's log.
compose() {
  local p=$1
  shift
  timeout "${COMPOSE_DEADLINE:-300}" "${compose_cmd[@]}" -p "$p" $(file_args "$p") "$@" \
    >>"$work/logs/$p.compose.log" 2>&1
}

# compose_stdout PROJECT ARGS...: the same, with its stdout left for the caller (what a user
# redirects); stderr goes to the project's log.
compose_stdout() {
  local p=$1
  shift
  timeout "${COMPOSE_DEADLINE:-300}" "${compose_cmd[@]}" -p "$p" $(file_args "$p") "$@" \
    2>>"$work/logs/$p.compose.log"
}

# down PROJECT [-v]: README.md's teardown. podman-compose's `down` stops and removes only the
# containers of the replicas it computes from today's CONSUMERS, and never removes the network:
# `podman network rm -f` removes the network with every container still on it.
down() {
  local p=$1
  shift
  if [[ $engine == docker ]]; then
    compose "$p" down "$@"
  else
    compose "$p" down "$@" &&
      timeout 120 podman network rm -f "${p}_default" >>"$work/logs/$p.compose.log" 2>&1
  fi
}

# leftovers PROJECT: "CONTAINERS NETWORKS VOLUMES" of the project: those that carry its label,
# and its default network and data volume by name.
leftovers() {
  local p=$1 c n v
  local label="label=com.docker.compose.project=$p"
  c=$(timeout 60 $engine ps -aq --filter "$label" | wc -l)
  n=$({
    timeout 60 $engine network ls --format '{{.Name}}' --filter "$label"
    timeout 30 $engine network inspect -f '{{.Name}}' "${p}_default" 2>/dev/null || true
  } | sort -u | grep -c . || true)
  v=$({
    timeout 60 $engine volume ls --format '{{.Name}}' --filter "$label"
    timeout 30 $engine volume inspect -f '{{.Name}}' "${p}_data" 2>/dev/null || true
  } | sort -u | grep -c . || true)
  echo "$c $n $v"
}

# check_gone PROJECT VOLUMES-TOO WHAT: nothing of the project is left (no volume either when
# VOLUMES-TOO is yes); WHAT names the command for the log.
check_gone() {
  local p=$1 volumes=$2 what=$3 c n v
  read -r c n v < <(leftovers "$p")
  log "$p: after $what: $c container(s), $n network(s), $v volume(s) of the project"
  ((c == 0 && n == 0)) || die "$p: $what left $c container(s) and $n network(s)"
  [[ $volumes != yes ]] || ((v == 0)) || die "$p: $what left $v volume(s)"
}

# add_project NAME [FILES]: a compose project the teardown removes (FILES: docker-compose.yml, or
# a space-separated list of compose files, later ones overriding earlier ones; no spaces in paths).
add_project() {
  projects+=("$1")
  project_file[$1]=${2:-$root/docker-compose.yml}
}

# file_args PROJECT: "-f FILE" for each of the project's compose files.
file_args() {
  local f
  for f in ${project_file[$1]}; do printf -- '-f %s ' "$f"; done
}

# containers PROJECT [SERVICE]: ids of the project's containers (of SERVICE only, if given).
containers() {
  local filters=(--filter "label=com.docker.compose.project=$1")
  [[ -z ${2:-} ]] || filters+=(--filter "label=com.docker.compose.service=$2")
  timeout 60 $engine ps -aq "${filters[@]}"
}

# describe ID...: "service name status exit-code" per container.
describe() {
  timeout 60 $engine inspect -f \
    '{{index .Config.Labels "com.docker.compose.service"}} {{.Name}} {{.State.Status}} {{.State.ExitCode}}' \
    "$@" | sed 's| /| |'
}

save_logs() {  # PROJECT
  local id name
  for id in $(containers "$1"); do
    name=$(timeout 30 $engine inspect -f '{{.Name}}' "$id" | tr -d /)
    timeout 60 $engine logs "$id" >"$work/logs/$name.log" 2>&1 || true
  done
}

show_logs() {  # PROJECT: the tail of every container's log, for a failure
  local f
  save_logs "$1"
  for f in "$work/logs/$1"*.log; do
    [[ -e $f ]] || continue
    log "---- ${f##*/}"
    tail -n 15 "$f" >&2
  done
}

# health ID: the engine's health status of a container ("starting", "healthy", ...).
health() {
  timeout 10 $engine inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null || echo unknown
}

# wait_healthy PROJECT SERVICE SECONDS: the service's healthcheck passes. Docker runs it on its
# own; podman runs healthchecks only from systemd timers, so under podman this runs it.
healthy() {
  if [[ $engine == docker ]]; then
    [[ $(health "$1") == healthy ]]
  else
    timeout 10 podman healthcheck run "$1" >/dev/null 2>&1
  fi
}
wait_healthy() {
  local id deadline=$(($(date +%s) + $3))
  id=$(containers "$1" "$2")
  [[ -n $id ]] || { show_logs "$1"; die "$1: no $2 container"; }
  until healthy "$id"; do
    (($(date +%s) < deadline)) || { show_logs "$1"; die "$1: $2 not healthy within $3 s"; }
    sleep 0.5
  done
}

# wait_exited PROJECT SECONDS [RESULTS TOTAL]: every container of PROJECT has exited.
wait_exited() {
  local p=$1 deadline running shown
  deadline=$(($(date +%s) + $2))
  shown=$(date +%s)
  while :; do
    running=$(timeout 60 $engine ps -q --filter "label=com.docker.compose.project=$p" | wc -l)
    ((running == 0)) && return 0
    if (($(date +%s) >= deadline)); then
      show_logs "$p"
      die "$p: $running container(s) still running after $2 s"
    fi
    if [[ -n ${3:-} && -t 2 ]]; then  # a progress line on a terminal, else one every 15 s
      printf '\rcompose-test: %s: %d/%d results, %d container(s) running ' "$p" \
        "$(count_lines "$3")" "$4" "$running" >&2
    elif [[ -n ${3:-} ]] && (($(date +%s) - shown >= 15)); then
      log "$p: $(count_lines "$3")/$4 results, $running container(s) running"
      shown=$(date +%s)
    fi
    sleep 1
  done
}

# check_exits PROJECT "service=count ...": exactly these containers, each exited with status 0.
check_exits() {
  local p=$1 want=$2 bad=0 service name status code
  local -a ids
  mapfile -t ids < <(containers "$p")
  ((${#ids[@]} > 0)) || die "$p: no containers"
  save_logs "$p"
  declare -A count=()
  while read -r service name status code; do
    log "$p: $service $name $status, exit code $code"
    count[$service]=$((${count[$service]:-0} + 1))
    [[ $status == exited && $code == 0 ]] || bad=1
  done < <(describe "${ids[@]}" | sort)
  for pair in $want; do
    [[ ${count[${pair%=*}]:-0} -eq ${pair#*=} ]] ||
      { log "$p: expected ${pair#*=} ${pair%=*} container(s), found ${count[${pair%=*}]:-0}"; bad=1; }
  done
  ((bad == 0)) || { show_logs "$p"; die "$p: a container did not exit 0 (logs above)"; }
}

# check_results FILE TOTAL PRODUCER KIND [CONSUMERS]: FILE is JSON lines, exactly one line per
# task: every seq 0..TOTAL-1 once, status ok, the id PRODUCER:seq, and the right output: KIND
# gen:SIZE (the sha256 of the generated payload: seq padded with '.' to SIZE bytes), echo:SIZE
# (that payload itself) or lines:PATH (line seq of PATH). With CONSUMERS, exactly that many
# consumers each ran at least one task.
check_results() {
  python3 - "$@" <<'EOF'
import hashlib, json, sys
path, total, producer, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want_consumers = int(sys.argv[5]) if len(sys.argv) > 5 else None
if kind.startswith("gen:"):
    size = int(kind[4:])
    expect = lambda seq: hashlib.sha256(str(seq).ljust(size, ".").encode()).hexdigest()
elif kind.startswith("echo:"):
    size = int(kind[5:])
    expect = lambda seq: str(seq).ljust(size, ".")
else:
    lines = open(kind[6:], encoding="utf-8").read().split("\n")
    expect = lambda seq: lines[seq]
seen, consumers, errors, n = {}, {}, [], 0
try:
    f = open(path, encoding="utf-8")
except OSError as e:
    sys.exit(f"compose-test: no results: {e}")
with f:
    for n, line in enumerate(f, 1):
        try:
            r = json.loads(line)
            if not isinstance(r, dict):
                raise ValueError("not an object")
        except ValueError as e:
            errors.append(f"line {n}: not a JSON object ({e}): {line[:80]!r}")
            continue
        seq = r.get("seq")
        if not isinstance(seq, int) or not 0 <= seq < total:
            errors.append(f"line {n}: bad seq {seq!r}")
            continue
        if seq in seen:
            errors.append(f"seq {seq}: reported twice (lines {seen[seq]} and {n})")
        seen[seq] = n
        if r.get("id") != f"{producer}:{seq}":
            errors.append(f"seq {seq}: id {r.get('id')!r}")
        if r.get("status") != "ok":
            errors.append(f"seq {seq}: status {r.get('status')!r} {r.get('error', '')!r}")
        elif r.get("output") != expect(seq):
            errors.append(f"seq {seq}: output {r.get('output')!r}, expected {expect(seq)!r}")
        consumers[r.get("consumer")] = consumers.get(r.get("consumer"), 0) + 1
if n != total:
    errors.append(f"{n} lines for {total} tasks")
missing = [s for s in range(total) if s not in seen]
if missing:
    errors.append(f"{len(missing)} seq missing, first {missing[:10]}")
if want_consumers is not None and len(consumers) != want_consumers:
    errors.append(f"{len(consumers)} consumers ran tasks, expected {want_consumers}")
for e in errors[:20]:
    print(f"compose-test:   {e}", file=sys.stderr)
share = ", ".join(f"{c}: {k}" for c, k in sorted(consumers.items(), key=str))
print(f"compose-test: {path}: {n} lines, {len(seen)}/{total} tasks, {len(errors)} problem(s); "
      f"{len(consumers)} consumers: {share}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
}

count_lines() {  # FILE: its number of lines, 0 when it does not exist yet
  if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi
}

# A data directory the image's user (uid 10001) can write, bind-mounted at /data.
data_dir() {
  mkdir -p "$work/$1"
  chmod 0777 "$work/$1"
  echo "$work/$1"
}

# ---- build -----------------------------------------------------------------------------------------
t0=$(date +%s)
if [[ $build == 0 ]]; then
  $engine image inspect "$image" >/dev/null 2>&1 || die "COMPOSE_TEST_BUILD=0, but there is no $image"
  log "using the existing image $image"
else
  log "building $image (Dockerfile: compile, unit tests, runtime image); log in $work/logs/build.log"
  old_image=$($engine image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  timeout "${BUILD_DEADLINE:-1000}" $engine build -t "$image" "$root" >"$work/logs/build.log" 2>&1 ||
    { tail -n 40 "$work/logs/build.log" >&2; die "image build failed"; }
  # The previous test image, if the tag moved on (its build layers stay, as the cache).
  if [[ -n $old_image && $old_image != "$($engine image inspect -f '{{.Id}}' "$image")" ]]; then
    timeout 120 $engine rmi "$old_image" >/dev/null 2>&1 || true
  fi
  log "image built in $(($(date +%s) - t0)) s"
fi
log "image: $($engine images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image" | sed -n 1p)"
export CONVEYOR_IMAGE=$image

# ---- batch: CONSUMERS=SCALE, the named data volume, README.md's commands ---------------------------
p="$project-batch"
add_project "$p"
unset CONVEYOR_DATA  # the named volume, as in README.md
export CONVEYOR_SOURCE="gen:$tasks:$size" CONVEYOR_HANDLER=sleep:20 CONVEYOR_CONCURRENCY=2 \
  CONVEYOR_PRODUCER_ID=p1
log "batch: CONSUMERS=$scale up --exit-code-from producer: $tasks tasks (gen:$tasks:$size, sleep:20), project $p"
t0=$(date +%s)
code=0
CONSUMERS=$scale compose "$p" up --exit-code-from producer || code=$?
elapsed=$(($(date +%s) - t0))
# Docker Compose returns once every container has exited; podman-compose as soon as one has (then
# with the producer's status if it exited within a second of it): the rest still end by themselves.
wait_exited "$p" 120
log "batch: up --exit-code-from producer returned $code after $elapsed s"
[[ $code == 0 ]] || { show_logs "$p"; die "batch: up --exit-code-from producer returned $code, not the producer's 0"; }
check_exits "$p" "broker=1 consumer=$scale producer=1"
grep -h "drained" "$work/logs/$p"*broker*.log 2>/dev/null | tail -n 1 | sed 's/^/compose-test: broker: /' >&2 || true
# What the retrieval command must filter out: podman-compose prints its podman commands on stdout.
compose_stdout "$p" run --rm --no-deps -T producer cat /data/results.jsonl >"$work/batch-raw.txt" ||
  die "batch: run --rm --no-deps -T producer cat failed"
chatter=$(grep -vc '^{' "$work/batch-raw.txt" || true)
log "batch: \`run -T producer cat\` alone: $(wc -l <"$work/batch-raw.txt") lines on stdout, $chatter of them not results"
# README.md's command, as written.
compose_stdout "$p" run --rm --no-deps -T producer cat /data/results.jsonl | grep '^{' >"$work/results.jsonl" ||
  die "batch: the retrieval command failed"
check_results "$work/results.jsonl" "$tasks" p1 "echo:$size" "$scale" ||
  die "batch: wrong results, or not one line per task, or not every consumer did tasks"
log "batch: ok: $scale consumer containers, each ran tasks; $tasks tasks, one JSON line each"
# `down -v` without the CONSUMERS it was started with.
if [[ $engine == podman ]]; then
  compose "$p" down -v || die "batch: podman-compose down -v failed"
  read -r c n v < <(leftovers "$p")
  log "batch: podman-compose down -v alone left $c container(s), $n network(s), $v volume(s)"
  timeout 120 podman network rm -f "${p}_default" >>"$work/logs/$p.compose.log" 2>&1 ||
    die "batch: podman network rm -f ${p}_default failed"
  check_gone "$p" yes "podman-compose down -v && podman network rm -f ${p}_default"
else
  down "$p" -v || die "batch: docker compose down -v failed"
  check_gone "$p" yes "docker compose down -v"
fi

# ---- curve: the batch job again over CurveZMQ (deploy/curve.override.yml), keys from the image ------
p="$project-curve"
add_project "$p" "$root/docker-compose.yml $root/deploy/curve.override.yml"
curve_data=$(data_dir curve)
keys=$(data_dir keys)
mkdir -p "$keys/producers" "$keys/consumers" && chmod 0777 "$keys/producers" "$keys/consumers"
for k in broker producers/p1 consumers/consumer; do
  timeout 120 $engine run --rm --user 10001:10001 -v "$keys:/keys" "$image" conveyor-keygen "/keys/$k" \
    >>"$work/logs/keygen.log" 2>&1 || { cat "$work/logs/keygen.log" >&2; die "curve: conveyor-keygen failed"; }
done
[[ $(stat -c %a "$keys/broker.key") == 600 ]] || die "curve: broker.key is not mode 0600"
export CONVEYOR_KEYS=$keys CONVEYOR_DATA=$curve_data CONVEYOR_SOURCE="gen:$tasks:$size" \
  CONVEYOR_HANDLER=sha256
log "curve: $tasks tasks (sha256) over CurveZMQ, 3 consumers, all started at once, project $p"
t0=$(date +%s)
compose "$p" up -d || { show_logs "$p"; die "curve: up -d failed"; }
log "curve: up -d returned after $(($(date +%s) - t0)) s (nothing waits for the healthcheck)"
wait_exited "$p" 300 "$curve_data/results.jsonl" "$tasks"
[[ ! -t 2 ]] || printf '\r\033[K' >&2
check_exits "$p" "broker=1 consumer=3 producer=1"
check_results "$curve_data/results.jsonl" "$tasks" p1 "gen:$size" || die "curve: wrong results"
grep -qh "CURVE on" "$work/logs/$p"*broker*.log || { show_logs "$p"; die "curve: the broker did not run with --curve"; }
log "curve: ok: $tasks tasks over CurveZMQ in $(($(date +%s) - t0)) s"
down "$p" || die "curve: down failed"
check_gone "$p" no "down"
unset CONVEYOR_KEYS

# ---- stop: the healthcheck passes; `docker stop` on a busy consumer drains it ------------------------
p="$project-stop"
add_project "$p"
stop=$(data_dir stop)
seq 0 $((stop_tasks - 1)) | sed 's/^/line-/' >"$stop/input.txt"
export CONVEYOR_DATA=$stop CONVEYOR_SOURCE=lines:/data/input.txt CONVEYOR_HANDLER=sleep:100 \
  CONVEYOR_CONCURRENCY=2 CONVEYOR_PRODUCER_ID=p1
log "stop: $stop_tasks tasks (lines:, sleep:100), 3 consumers, project $p"
compose "$p" up -d || { show_logs "$p"; die "stop: up -d failed"; }
broker_id=$(containers "$p" broker)
before=$(health "$broker_id")
wait_healthy "$p" broker 60
if [[ $engine == podman ]]; then
  log "stop: broker healthcheck passes (podman healthcheck run); podman itself had it at '$before' (no systemd timers)"
else
  log "stop: broker healthy (docker ran the healthcheck)"
fi
deadline=$(($(date +%s) + 120))
until (($(count_lines "$stop/results.jsonl") >= stop_tasks / 10)); do
  (($(date +%s) < deadline)) || { show_logs "$p"; die "stop: no progress within 120 s"; }
  sleep 0.2
done
victim=$(containers "$p" consumer | sed -n 1p)
victim_name=$(timeout 30 $engine inspect -f '{{.Name}}' "$victim" | tr -d /)
log "stop: $engine stop $victim_name (SIGTERM, 10 s grace) after $(wc -l <"$stop/results.jsonl") results"
t0=$(date +%s.%N)
timeout 60 $engine stop -t 10 "$victim" >/dev/null || die "stop: $engine stop failed"
took=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
read -r _ _ status code < <(describe "$victim")
timeout 30 $engine logs "$victim" >"$work/logs/$victim_name.log" 2>&1 || true
log "stop: $victim_name stopped in $took s: $status, exit code $code"
[[ $status == exited && $code == 0 ]] ||
  { show_logs "$p"; die "stop: the stopped consumer exited $code (137 means it was killed)"; }
grep -q "finishing running tasks" "$work/logs/$victim_name.log" ||
  { show_logs "$p"; die "stop: no 'finishing running tasks' in $victim_name's log"; }
log "stop: $(grep -h "finishing running tasks" "$work/logs/$victim_name.log" | sed -n 1p)"
wait_exited "$p" 300 "$stop/results.jsonl" "$stop_tasks"
[[ ! -t 2 ]] || printf '\r\033[K' >&2
check_exits "$p" "broker=1 consumer=3 producer=1"
check_results "$stop/results.jsonl" "$stop_tasks" p1 "lines:$stop/input.txt" ||
  die "stop: wrong results"
log "stop: ok: the stopped consumer drained and exited 0, the job completed"
down "$p" -v || die "stop: down -v failed"
check_gone "$p" yes "down -v"

# ---- deploy: the per-host files of deploy/, as three projects talking through published ports -----
# The broker publishes its ports on this host; the consumers and the producer reach them through
# BROKER_HOST, this host's address, as they would from other machines. The consumer host starts
# first and waits for the broker.
free_ports() {  # [N]: N (2) free TCP ports of this host
  python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])' "${1:-2}"
}
broker_host=${DEPLOY_BROKER_HOST:-$(hostname -I 2>/dev/null | awk '{print $1}')}
[[ -n $broker_host ]] || die "deploy: no address for this host (set DEPLOY_BROKER_HOST)"
read -r frontend_port backend_port < <(free_ports)
deploy_tasks=1000
deploy=$(data_dir deploy)
add_project "$project-dbroker" "$root/deploy/broker.compose.yml"
add_project "$project-dconsumer" "$root/deploy/consumer.compose.yml"
add_project "$project-dproducer" "$root/deploy/producer.compose.yml"
unset CONVEYOR_SOURCE CONVEYOR_CONCURRENCY
export BROKER_HOST=$broker_host CONVEYOR_FRONTEND_PORT=$frontend_port \
  CONVEYOR_BACKEND_PORT=$backend_port CONVEYOR_HANDLER=sha256 CONSUMERS=2 \
  CONVEYOR_PRODUCER_ID=p7 CONVEYOR_DATA=$deploy
log "deploy: deploy/*.compose.yml as 3 projects: 2 consumers first, then a batch broker (ports $frontend_port, $backend_port) and a producer, via BROKER_HOST=$broker_host"
seq 0 $((deploy_tasks - 1)) | sed 's/^/task /' >"$deploy/input.txt"
python3 -c '
import hashlib, sys
lines = open(sys.argv[1]).read().split("\n")
open(sys.argv[2], "w").write("\n".join(hashlib.sha256(l.encode()).hexdigest() for l in lines))
' "$deploy/input.txt" "$work/deploy-expected.txt"
compose "$project-dconsumer" up -d ||
  { show_logs "$project-dconsumer"; die "deploy: cannot start the consumers"; }
sleep 2  # the consumers are already asking for a broker that is not there
CONVEYOR_SERVICE=false CONVEYOR_EXIT_WHEN_DRAINED=true CONVEYOR_PRODUCERS=1 \
  compose "$project-dbroker" up -d || { show_logs "$project-dbroker"; die "deploy: cannot start the broker"; }
compose "$project-dproducer" up -d ||
  { show_logs "$project-dproducer"; die "deploy: cannot start the producer"; }
wait_exited "$project-dproducer" 300 "$deploy/results.jsonl" "$deploy_tasks"
[[ ! -t 2 ]] || printf '\r\033[K' >&2
wait_exited "$project-dbroker" 60
wait_exited "$project-dconsumer" 60
check_exits "$project-dbroker" "broker=1"
check_exits "$project-dconsumer" "consumer=2"
check_exits "$project-dproducer" "producer=1"
check_results "$deploy/results.jsonl" "$deploy_tasks" p7 "lines:$work/deploy-expected.txt" 2 ||
  die "deploy: wrong results"
log "deploy: ok: consumer, broker and producer hosts' files, each its own project"
for d in dconsumer dbroker dproducer; do
  down "$project-$d" || die "deploy: down failed for $project-$d"
  check_gone "$project-$d" no down
done
unset BROKER_HOST CONVEYOR_PRODUCER_ID CONVEYOR_FRONTEND_PORT CONVEYOR_BACKEND_PORT CONSUMERS

# ---- service: the broker stays up between producers; stopping it pills the consumers ---------------
p="$project-service"
add_project "$p" "$root/docker-compose.yml $root/deploy/service.override.yml"
svc=$(data_dir service)
read -r frontend_port backend_port metrics_port < <(free_ports 3)
export CONVEYOR_DATA=$svc CONVEYOR_HANDLER=sha256 CONVEYOR_CONCURRENCY=2 \
  CONVEYOR_FRONTEND_PORT=$frontend_port CONVEYOR_BACKEND_PORT=$backend_port \
  CONVEYOR_METRICS_HOST_PORT=$metrics_port
unset CONVEYOR_SOURCE CONVEYOR_PRODUCER_ID
log "service: deploy/service.override.yml: service-broker (ports $frontend_port, $backend_port) and 3 service-consumers, project $p"
compose "$p" up -d service-broker service-consumer ||
  { show_logs "$p"; die "service: cannot start the broker and the consumers"; }
for run in 1 2; do
  n=$((500 * run))
  name="$p-run$run"
  # One-off producers; `run -d` + wait, because podman-compose's `run` drops the exit code.
  compose "$p" run -d -T --no-deps --name "$name" -e "CONVEYOR_ID=job$run" \
    -e "CONVEYOR_SOURCE=gen:$n:32" -e "CONVEYOR_RESULTS=/data/run$run.jsonl" service-producer ||
    { show_logs "$p"; die "service: cannot start producer run $run"; }
  code=$(timeout 300 $engine wait "$name") || { show_logs "$p"; die "service: run $run timed out"; }
  timeout 30 $engine logs "$name" >"$work/logs/$name.log" 2>&1 || true
  [[ $code == 0 ]] || { show_logs "$p"; die "service: producer run $run exited $code"; }
  check_results "$svc/run$run.jsonl" "$n" "job$run" gen:32 || die "service: wrong results in run $run"
  running=$(timeout 60 $engine ps -q --filter "label=com.docker.compose.project=$p" \
    --filter "label=com.docker.compose.service=service-consumer" | wc -l)
  ((running == 3)) || { show_logs "$p"; die "service: $running consumers still up after run $run, not 3"; }
  timeout 60 $engine rm -f "$name" >/dev/null
done
log "service: two producer runs done, 3 consumers still waiting; stopping the broker"
compose "$p" stop service-broker || die "service: stop service-broker failed"
wait_exited "$p" 60
check_exits "$p" "service-broker=1 service-consumer=3"
log "service: ok: the consumers outlived two runs and exited 0 after the broker's stop"
down "$p" -v || die "service: down -v failed"
check_gone "$p" yes "down -v"
