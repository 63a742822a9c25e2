#!/usr/bin/env bash
# Stops what start.sh started (by the pids it wrote): Keycloak, the authentication channel, then
# PostgreSQL. The database stays in $KC_WORK/pg (start.sh with KC_FRESH=1 starts empty).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
work=${KC_WORK:-$repo/target/peers/keycloak/run}
for name in keycloak auth-channel; do
  pidfile="$work/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$pidfile"
done
[ -d "$work/pg" ] && "$repo/scripts/pg-cluster.sh" stop "$work/pg"
exit 0
