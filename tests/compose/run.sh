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
#   pipeline deploy/pipeline.override.yml through COMPOSE_FILE, as README.md runs it: attached `up`
#            of PIPELINE_PAGES (200) generated pages, 3 stage-one consumers (html_links.py, pages ->
#            store) and 2 store consumers (write_files.py); every container exits 0, the broker
#            finishes `pages` then `store`; the retrieval command (`grep '^{'`) gives each page's
#            summary (checked against make_pages.py) and its stored file's line (queue, parent) once,
#            and /data/out holds exactly those files with those summaries; `down -v` leaves nothing;
#   crawler  deploy/crawler.override.yml the same way: a tree of CRAWL_DEPTH (4) levels of
#            CRAWL_FANOUT (3), 3 consumers (crawl.py, pages -> pages); every page exactly once, each
#            id PARENT/K the K-th child of its parent's page, with its title; `down -v` leaves nothing.
# Everything the test started is torn down on exit, whatever happened. Without an engine it exits
# 77 (skipped), or fails when CONVEYOR_REQUIRE_ALL=1. Every wait has a deadline; together they stay
# within CTest's TIMEOUT (1500 s), so the teardown always runs.
#   TASKS=3000 SIZE=64 SCALE=8 KEEP=1 tests/compose/run.sh   # KEEP=1 keeps the work directory
#   COMPOSE_TEST_BUILD=0 COMPOSE_TEST_IMAGE=conveyor:latest tests/compose/run.sh   # no build
#   DEPLOY_BROKER_HOST=host.docker.internal tests/compose/run.sh   # where `hostname -I` is no good
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
setup_script="$root/../shared/container-setup.sh"
tasks=${TASKS:-3000}
size=${SIZE:-64}
scale=${SCALE:-8}
stop_tasks=${STOP_TASKS:-600}
pipeline_pages=${PIPELINE_PAGES:-200}
crawl_depth=${CRAWL_DEPTH:-4}
crawl_fanout=${CRAWL_FANOUT:-3}
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
unset CONSUMERS BROKER_HOST PAGES STORE_CONSUMERS TREE_DEPTH TREE_FANOUT

work=$(mktemp -d /tmp/conveyor-compose-XXXXXX)
mkdir -p "$work/logs"

# ---- dockerfile: the build stage copies folder by folder; a folder the build adds must be there --
# (else the image build fails late, after its dependencies layer, with a CMake error about a
# missing source directory). examples/ and bench/ are not built in the image.
for dir in $(sed -nE 's/^ *add_subdirectory\(([a-z_]+)[/)].*/\1/p' "$root/CMakeLists.txt" | sort -u); do
  [[ $dir == examples || $dir == bench ]] && continue
  grep -qE "^COPY $dir $dir\$" "$root/Dockerfile" ||
    die "dockerfile: the build stage does not copy $dir/, which CMakeLists.txt builds (add COPY $dir $dir)"
done

# ---- stack: Swarm's schema accepts the files (the docker client alone, no engine) ----------------
stack_config() {  # FILE...: `docker stack config -c FILE ...` from the repository's root
  local f args=()
  for f in "$@"; do args+=(-c "$f"); done
  (cd "$root" && BROKER_HOST=broker.example.com CONVEYOR_PRODUCER_ID=p1 \
    timeout 60 docker stack config "${args[@]}" >/dev/null 2>>"$work/logs/stack.log")
}
if command -v docker >/dev/null; then
  for files in "docker-compose.yml" "docker-compose.yml deploy/curve.override.yml" \
    "docker-compose.yml deploy/service.override.yml" "docker-compose.yml deploy/pipeline.override.yml" \
    "docker-compose.yml deploy/crawler.override.yml" deploy/broker.compose.yml \
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
declare -A project_file=() project_env=()

# ---- teardown, whatever happened -----------------------------------------------------------------
teardown() {
  local status=$? p
  local -a ids argv
  trap - EXIT INT TERM
  set +e
  # The deploy/ files insist on these; any value does for `down`.
  export BROKER_HOST=${BROKER_HOST:-unused} CONVEYOR_PRODUCER_ID=${CONVEYOR_PRODUCER_ID:-unused}
  for p in "${projects[@]}"; do
    set_compose_argv "$p"
    if [[ $engine == docker ]]; then
      timeout 120 "${argv[@]}" down -v --remove-orphans --timeout 5 >>"$work/logs/teardown.log" 2>&1
    else
      timeout 120 "${argv[@]}" down -v -t 5 >>"$work/logs/teardown.log" 2>&1
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
  local p=$1 argv
  shift
  set_compose_argv "$p"
  timeout "${COMPOSE_DEADLINE:-300}" "${argv[@]}" "$@" >>"$work/logs/$p.compose.log" 2>&1
}

# compose_stdout PROJECT ARGS...: the same, with its stdout left for the caller (what a user
# redirects); stderr goes to the project's log.
compose_stdout() {
  local p=$1 argv
  shift
  set_compose_argv "$p"
  timeout "${COMPOSE_DEADLINE:-300}" "${argv[@]}" "$@" 2>>"$work/logs/$p.compose.log"
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

# add_project NAME [FILES [env]]: a compose project the teardown removes (FILES: docker-compose.yml,
# or a space-separated list of compose files, later ones overriding earlier ones; no spaces in
# paths). With "env", FILES are relative to the repository's root and the commands run there with
# COMPOSE_FILE=FILE:FILE..., as README.md shows them; otherwise with -f FILE for each.
add_project() {
  projects+=("$1")
  project_file[$1]=${2:-$root/docker-compose.yml}
  project_env[$1]=${3:-}
}

# set_compose_argv PROJECT: sets the caller's argv to the compose command for PROJECT, on its files.
set_compose_argv() {
  local f
  if [[ -n ${project_env[$1]} ]]; then
    argv=(env -C "$root" "COMPOSE_FILE=${project_file[$1]// /:}" "${compose_cmd[@]}" -p "$1")
  else
    argv=("${compose_cmd[@]}" -p "$1")
    for f in ${project_file[$1]}; do argv+=(-f "$f"); done
  fi
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

# wait_welcomed PROJECT SERVICE N SECONDS: N containers of SERVICE have been welcomed by the broker
# (their log says so). A job must not start before every consumer it counts on is in: a fast job
# can drain before a late consumer's hello, and that consumer then waits out its connect timeout.
wait_welcomed() {
  local p=$1 service=$2 want=$3 deadline welcomed id
  deadline=$(($(date +%s) + $4))
  while :; do
    welcomed=0
    for id in $(containers "$p" "$service"); do
      timeout 60 $engine logs "$id" 2>&1 | grep -q "connected to the broker" && welcomed=$((welcomed + 1))
    done
    ((welcomed >= want)) && return 0
    if (($(date +%s) >= deadline)); then
      show_logs "$p"
      die "$p: $welcomed of $want $service container(s) welcomed by the broker after $4 s"
    fi
    sleep 1
  done
}

# check_exits PROJECT "service=count ...": exactly these containers, each exited with status 0.
check_exits() {
  local p=$1 want=$2 bad=0 service name status code
  local -a ids argv
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

# exit_order PROJECT: the names of the project's containers, in the order they exited.
exit_order() {
  local -a ids
  mapfile -t ids < <(containers "$1")
  timeout 60 $engine inspect -f '{{.State.FinishedAt}}|{{.Name}}' "${ids[@]}" | python3 -c '
import re, sys
# Docker and podman both drop trailing zeros of the fraction: pad it, so that text order is time order.
pad = lambda t: re.sub(r"(\d\d:\d\d:\d\d)(?:\.(\d+))?", lambda m: m[1] + "." + (m[2] or "").ljust(9, "0"), t, count=1)
rows = sorted((pad(t), n.lstrip("/")) for t, n in (l.rsplit("|", 1) for l in sys.stdin.read().splitlines()))
print(" ".join(n for _, n in rows))'
}

# check_stage_order PROJECT QUEUE...: the broker finished exactly these queues, in this order (its
# "queue NAME is finished" lines: each stage is pilled once no task can reach it).
check_stage_order() {
  local p=$1 got
  shift
  got=$(grep -ho 'queue [^ ]* is finished' "$work/logs/$p"*broker*.log | awk '{print $2}' | paste -sd ' ')
  log "$p: the broker finished queue(s) $got, in that order; exit order: $(exit_order "$p")"
  [[ $got == "$*" ]] || { show_logs "$p"; die "$p: queues finished: '$got', expected '$*'"; }
}

# retrieve PROJECT NAME: README.md's retrieval command, into $work/NAME.jsonl. With two compose
# files podman-compose also prints the merged file on stdout (its lines start with a space or `}`).
retrieve() {
  local raw="$work/$2-raw.txt"
  compose_stdout "$1" run --rm --no-deps -T producer cat /data/results.jsonl >"$raw" ||
    die "$2: run --rm --no-deps -T producer cat failed"
  log "$2: \`run -T producer cat\` alone: $(wc -l <"$raw") lines on stdout, $(grep -vc '^{' "$raw" || true) of them not results"
  compose_stdout "$1" run --rm --no-deps -T producer cat /data/results.jsonl | grep '^{' >"$work/$2.jsonl" ||
    die "$2: the retrieval command failed"
}

# The files the pipeline's second stage wrote, one JSON line each ({"path":…,"content":…}).
dump_out='import json, os
d = "/data/out"
for name in sorted(os.listdir(d)):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        print(json.dumps({"path": os.path.join(d, name), "content": f.read()}))'

# check_pipeline RESULTS STORED PRODUCER PAGES: RESULTS holds exactly 2 x PAGES lines: for each
# page SEQ, PRODUCER:SEQ with the summary of page SEQ of the site make_pages.py writes (its title
# and links, computed here with make_pages.py's own functions), and PRODUCER:SEQ/0 from the queue
# store, parent PRODUCER:SEQ, the file write_files.py wrote it to; STORED (the files of /data/out)
# holds exactly those files, each with its parent's summary. No consumer ran tasks of both stages.
check_pipeline() {
  python3 - "$root/examples/python" "$@" <<'PY'
import json, sys
from urllib.parse import quote
examples, path, stored_path, producer, pages = *sys.argv[1:5], int(sys.argv[5])
sys.path.insert(0, examples)
from make_pages import linked_pages, page_name  # noqa: E402  (the site the producer generated)
errors, lines, n = [], {}, 0
with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
        n += 1
        try:
            r = json.loads(line)
        except ValueError:
            errors.append(f"line {number} is not JSON: {line[:80]!r}")
            continue
        if r.get("id") in lines:
            errors.append(f"{r.get('id')} reported twice")
        lines[r.get("id")] = r
with open(stored_path, encoding="utf-8") as f:
    stored = {s["path"]: s["content"] for s in map(json.loads, f)}
stages = {"pages": {}, "store": {}}
named = set()
for seq in range(pages):
    root_id, child_id = f"{producer}:{seq}", f"{producer}:{seq}/0"
    root, child = lines.get(root_id), lines.get(child_id)
    if root is None or child is None:
        errors.append(f"seq {seq}: missing " + " and ".join(i for i, r in ((root_id, root), (child_id, child)) if r is None))
        continue
    want = {"page": f"/data/site/{page_name(seq)}", "title": f"Page {seq} of {pages}",
            "links": [page_name(o) for o in linked_pages(seq, pages)] + [f"https://example.com/reference/{seq}"]}
    if root.get("status") != "ok" or root.get("seq") != seq or "queue" in root or "parent" in root:
        errors.append(f"{root_id}: {root}")
    elif json.loads(root["output"]) != want:
        errors.append(f"{root_id}: summary {root['output']!r}, expected {want}")
    out = f"/data/out/task-{quote(child_id, safe='')}"
    if (child.get("status"), child.get("seq"), child.get("queue"), child.get("parent"), child.get("output")) != ("ok", seq, "store", root_id, out):
        errors.append(f"{child_id}: {child}, expected ok, seq {seq}, queue store, parent {root_id}, output {out}")
    elif out not in stored:
        errors.append(f"{child_id}: no file {out}")
    elif json.loads(stored[out]) != want:
        errors.append(f"{out}: {stored[out]!r}, not the summary of page {seq}")
    named.add(out)
    for stage, r in (("pages", root), ("store", child)):
        stages[stage][r.get("consumer")] = stages[stage].get(r.get("consumer"), 0) + 1
if n != 2 * pages:
    errors.append(f"{n} lines for {pages} pages and {pages} stored summaries")
if set(stored) - named:
    errors.append(f"files in /data/out that no result names: {sorted(set(stored) - named)[:5]}")
if set(stages["pages"]) & set(stages["store"]):
    errors.append(f"consumers ran tasks of both stages: {set(stages['pages']) & set(stages['store'])}")
for e in errors[:20]:
    print(f"compose-test:   {e}", file=sys.stderr)
share = "; ".join(f"{s}: " + ", ".join(f"{c}: {k}" for c, k in sorted(v.items(), key=str)) for s, v in stages.items())
print(f"compose-test: {path}: {n} lines, {len(stored)} files in /data/out, {len(errors)} problem(s); "
      f"consumers per queue: {share}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# check_crawl RESULTS PRODUCER DEPTH FANOUT: RESULTS holds exactly one line per page of the tree
# crawl.py --make-site writes (1 + F + ... + F^DEPTH): PRODUCER:0 is page 0, and PARENT/K (queue
# pages, parent PARENT, its root's seq 0) is the K-th child of PARENT's page, page P*F+K+1; each
# with the title of its page, status ok.
check_crawl() {
  python3 - "$@" <<'PY'
import json, sys
path, producer, depth, fanout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
count = sum(fanout**level for level in range(depth + 1))
errors, seen, consumers, n = [], {}, {}, 0
with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
        n += 1
        try:
            r = json.loads(line)
            rid = r["id"]
            root, *children = rid.removeprefix(f"{producer}:").split("/")
            page = 0
            for k in children:
                page = page * fanout + int(k) + 1
        except (ValueError, KeyError) as e:
            errors.append(f"line {number}: {e}: {line[:80]!r}")
            continue
        want = {"status": "ok", "seq": 0, "output": f"Page {page}"}
        if children:
            want.update(queue="pages", parent=rid.rsplit("/", 1)[0])
        got = {k: r.get(k) for k in want}
        if not rid.startswith(f"{producer}:") or root != "0" or got != want or (not children and "parent" in r):
            errors.append(f"{rid}: {got}, expected {want}")
        if page in seen:
            errors.append(f"page {page} twice: {seen[page]} and {rid}")
        seen[page] = rid
        consumers[r.get("consumer")] = consumers.get(r.get("consumer"), 0) + 1
if n != count:
    errors.append(f"{n} lines for {count} pages")
missing = sorted(set(range(count)) - set(seen))
if missing or set(seen) - set(range(count)):
    errors.append(f"pages missing: {missing[:10]}, pages outside the tree: {sorted(set(seen) - set(range(count)))[:10]}")
for e in errors[:20]:
    print(f"compose-test:   {e}", file=sys.stderr)
share = ", ".join(f"{c}: {k}" for c, k in sorted(consumers.items(), key=str))
print(f"compose-test: {path}: {n} lines, {len(seen)}/{count} pages, {len(errors)} problem(s); "
      f"{len(consumers)} consumers: {share}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# ---- build -----------------------------------------------------------------------------------------
t0=$(date +%s)
if [[ $build == 0 ]]; then
  $engine image inspect "$image" >/dev/null 2>&1 || die "COMPOSE_TEST_BUILD=0, but there is no $image"
  log "using the existing image $image"
else
  log "building $image (Dockerfile: compile, unit tests, runtime image); log in $work/logs/build.log"
  old_image=$($engine image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  timeout "${BUILD_DEADLINE:-1300}" $engine build -t "$image" "$root" >"$work/logs/build.log" 2>&1 ||
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
CONVEYOR_SERVICE=false CONVEYOR_EXIT_WHEN_DRAINED=true CONVEYOR_PRODUCERS=1 \
  compose "$project-dbroker" up -d || { show_logs "$project-dbroker"; die "deploy: cannot start the broker"; }
wait_welcomed "$project-dconsumer" consumer 2 120
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

# ---- pipeline: deploy/pipeline.override.yml through COMPOSE_FILE, as README.md runs it -------------
# The producer generates the pages; 3 `consumer` replicas (pages -> store) summarise them, 2 `store`
# replicas write the summaries to files. `up` (attached) returns once every container has exited.
p="$project-pipeline"
add_project "$p" "docker-compose.yml deploy/pipeline.override.yml" env
unset CONVEYOR_DATA CONVEYOR_SOURCE CONVEYOR_HANDLER CONVEYOR_CONCURRENCY CONVEYOR_PRODUCER_ID \
  CONVEYOR_FRONTEND_PORT CONVEYOR_BACKEND_PORT CONVEYOR_METRICS_HOST_PORT  # as in README.md
export PAGES=$pipeline_pages CONSUMERS=3 STORE_CONSUMERS=2
log "pipeline: COMPOSE_FILE=docker-compose.yml:deploy/pipeline.override.yml up: $PAGES pages, 3 consumers (pages -> store), 2 store, project $p"
t0=$(date +%s)
COMPOSE_DEADLINE=240 compose "$p" up || { show_logs "$p"; die "pipeline: up failed or did not return within 240 s"; }
wait_exited "$p" 60
log "pipeline: up returned after $(($(date +%s) - t0)) s"
check_exits "$p" "broker=1 consumer=3 store=2 producer=1"
check_stage_order "$p" pages store
retrieve "$p" pipeline
compose_stdout "$p" run --rm --no-deps -T producer python3 -c "$dump_out" | grep '^{"' \
  >"$work/pipeline-stored.jsonl" || die "pipeline: cannot list /data/out"
check_pipeline "$work/pipeline.jsonl" "$work/pipeline-stored.jsonl" site "$PAGES" ||
  die "pipeline: wrong results, or not every page and stored summary exactly once"
log "pipeline: ok: $PAGES pages summarised and stored, $((2 * PAGES)) results once each, in $(($(date +%s) - t0)) s"
down "$p" -v || die "pipeline: down -v failed"
check_gone "$p" yes "down -v"

# ---- crawler: deploy/crawler.override.yml, a queue that feeds itself -------------------------------
p="$project-crawler"
add_project "$p" "docker-compose.yml deploy/crawler.override.yml" env
unset PAGES STORE_CONSUMERS
export TREE_DEPTH=$crawl_depth TREE_FANOUT=$crawl_fanout CONSUMERS=3
log "crawler: COMPOSE_FILE=docker-compose.yml:deploy/crawler.override.yml up: a tree of depth $TREE_DEPTH, fan-out $TREE_FANOUT, 3 consumers (pages -> pages), project $p"
t0=$(date +%s)
COMPOSE_DEADLINE=240 compose "$p" up || { show_logs "$p"; die "crawler: up failed or did not return within 240 s"; }
wait_exited "$p" 60
log "crawler: up returned after $(($(date +%s) - t0)) s"
check_exits "$p" "broker=1 consumer=3 producer=1"
check_stage_order "$p" pages
retrieve "$p" crawler
check_crawl "$work/crawler.jsonl" crawl "$TREE_DEPTH" "$TREE_FANOUT" ||
  die "crawler: wrong results, or not every page of the tree exactly once"
log "crawler: ok: every page of the tree once, in $(($(date +%s) - t0)) s"
down "$p" -v || die "crawler: down -v failed"
check_gone "$p" yes "down -v"
unset TREE_DEPTH TREE_FANOUT CONSUMERS
