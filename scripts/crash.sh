#!/usr/bin/env bash
# Crash-safety harness (not part of CI: it is long). Builds the release binaries, then for each
# engine runs ciba-crash (bench/src/crash/), which starts ciba-server on one database, kills it
# with SIGKILL under load N times, restarts it and checks what it had acknowledged; see
# bench/CRASH.md. Usage:
#   scripts/crash.sh [sqlite] [postgres] [--kills N] [-- more ciba-crash flags]
# (default: both engines, 100 kills). Environment: CARGO_TARGET_DIR (default target), KEEP=1 keeps
# the work directory (server logs, database); it is always kept after a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
engines=(); kills=100; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    sqlite|postgres) engines+=("$1") ;;
    --kills) kills=${2:?--kills needs a number}; shift ;;
    --kills=*) kills=${1#--kills=} ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [sqlite] [postgres] [--kills N] [-- ciba-crash flags]" >&2; exit 2 ;;
  esac
  shift
done
[ ${#engines[@]} -eq 0 ] && engines=(sqlite postgres)
target=${CARGO_TARGET_DIR:-target}
nice -n 10 cargo build --locked --release -p ciba-server -p ciba-bench
bin="$target/release"

work=$(mktemp -d /tmp/ciba-crash-XXXXXX); chmod 755 "$work"
pg=""; failed=0
cleanup() {
  [ -n "$pg" ] && scripts/pg-cluster.sh stop "$work/pg"
  if [ "$failed" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "work directory kept: $work" >&2; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
for engine in "${engines[@]}"; do
  mkdir -p "$work/$engine"
  case "$engine" in
    sqlite) url="sqlite://$work/$engine/crash.db" ;;
    postgres)
      if [ -z "$pg" ]; then pg=$(scripts/pg-cluster.sh start "$work/pg" "$(free_port)"); fi
      db="crash_$RANDOM"
      psql "$pg" -qc "CREATE DATABASE $db" > /dev/null 2>&1 || runuser -u postgres -- psql "$pg" -qc "CREATE DATABASE $db"
      url="${pg%/postgres}/$db" ;;
  esac
  start=$(date +%s)
  rc=0
  nice -n 10 "$bin/ciba-crash" --engine "$engine" --server-bin "$bin/ciba-server" --database-url "$url" \
    --work-dir "$work/$engine" --kills "$kills" ${extra[@]+"${extra[@]}"} || rc=$?
  echo "[$engine] exit $rc, wall time $(( $(date +%s) - start )) s"
  [ "$rc" = 0 ] || failed=1
done
exit "$failed"
