#!/usr/bin/env bash
# Runs README.md's "A job by hand" exactly as written (the first ```sh block of that section), so
# that the README cannot drift from the executables: in a scratch directory that looks like the
# repository's root (build/, examples/, clients/ linked in), every process must end by itself
# within the deadline, and the results files must hold every task, ok.
#   tests/readme/job_by_hand.sh BUILD_DIR
# It uses the README's fixed ports (5555-5557): CTest runs it serially.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: job_by_hand.sh BUILD_DIR}" && pwd)
deadline=${DEADLINE:-120}

work=$(mktemp -d /tmp/conveyor-readme-XXXXXX)
cleanup() {
  # The job runs in its own process group: whatever is left of it after the deadline goes.
  [[ -n ${job:-} ]] && kill -9 -- "-$job" 2>/dev/null || true
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "readme-job: FAIL: $*" >&2; tail -n 20 "$work/job.log" >&2 || true; exit 1; }

# The block: from the first ```sh after the heading to the closing ```.
awk '/^## A job by hand/ {s = 1} s && /^```sh$/ {b = 1; next} b && /^```$/ {exit} b' \
  "$root/README.md" > "$work/job.sh"
[[ -s $work/job.sh ]] || fail "README.md has no \`\`\`sh block under \"## A job by hand\""
ln -s "$build" "$work/build"
ln -s "$root/examples" "$work/examples"
ln -s "$root/clients" "$work/clients"

cd "$work"
started=$(date +%s)
setsid bash -e job.sh >job.log 2>&1 &
job=$!
code=0
timeout "$deadline" tail --pid="$job" -f /dev/null || fail "the job still runs after ${deadline} s"
wait "$job" || code=$?
[[ $code -eq 0 ]] || fail "the job's last command exited $code"
# The block ends with `wait`: nothing it started may outlive it (the broker drained and pilled
# both consumers).
if pgrep -g "$job" >/dev/null; then fail "processes outlived the job: $(pgrep -g "$job" -a)"; fi
job=""

check_results() {  # FILE COUNT
  local lines ok
  lines=$(wc -l <"$1")
  ok=$(grep -c '"status":"ok"' "$1" || true)
  [[ $lines -eq $2 && $ok -eq $2 ]] || fail "$1: $lines lines, $ok ok, expected $2 ok"
}
check_results p1.jsonl 1000
check_results p2.jsonl 100000
grep -q '"output":"user17"' p1.jsonl || fail "p1.jsonl lacks the output the README shows (user17)"
echo "readme-job: ok: 1000 + 100000 results, every one ok, in $(($(date +%s) - started)) s" >&2
