#!/usr/bin/env bash
# ciba-server, node-oidc-provider and Keycloak under the same load, in one run (issue 17).
#   bench/peers/compare.sh
# Installs what it needs (npm ci for node-oidc-provider; Keycloak's zip from Maven Central and a
# throwaway PostgreSQL through bench/peers/keycloak/start.sh), starts the three servers, warms each
# up, then runs `ciba-load` against each in turn, round after round (ciba-server, node, Keycloak,
# ciba-server, …): the same phases, concurrencies, seconds and load client for all. One server is
# under load at a time; the others sit idle. The summary is the median of the rounds per phase,
# with each peer's ratio to ciba-server, and each server's peak resident set (VmHWM).
# Environment (defaults):
#   ROUNDS=2  SECONDS_PER_PHASE=10  CONCURRENCY=16,256  WARMUP=60 (s of load before round 1)
#   SERVERS="ciba-server node-oidc-provider keycloak"
#   BENCH_JSON=<file>   also write every round's rows and the medians as JSON
#   KEEP_PEERS=1        leave node-oidc-provider and Keycloak running at the end
# Ports: ciba-server and node-oidc-provider on free ports; Keycloak 8180 (and 9180, PostgreSQL
# 55480, its channel receiver 8998); the peers' ping receiver 127.0.0.1:8999 (their registered
# notification endpoint).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
rounds=${ROUNDS:-2}
seconds=${SECONDS_PER_PHASE:-10}
concurrency=${CONCURRENCY:-16,256}
warmup=${WARMUP:-60}
read -r -a servers <<< "${SERVERS:-ciba-server node-oidc-provider keycloak}"

cargo build --locked --release -p ciba-server -p ciba-bench
bin="${CARGO_TARGET_DIR:-target}/release"
scripts/check-allocator.sh "$bin/ciba-server" >&2
work=$(mktemp -d /tmp/ciba-peers-XXXXXX); chmod 755 "$work"
ciba_pid=""; node_pid=""; keycloak=""
cleanup() {
  [ -n "$ciba_pid" ] && kill "$ciba_pid" 2>/dev/null && wait "$ciba_pid" 2>/dev/null
  if [ "${KEEP_PEERS:-0}" != 1 ]; then
    [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    [ -n "$keycloak" ] && "$here/keycloak/stop.sh" > /dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -sf "$1" > /dev/null && return 0; sleep 0.2; done; echo "$1 did not answer" >&2; return 1; }

declare -A base pid args
for server in "${servers[@]}"; do
  case "$server" in
    ciba-server)
      port=$(free_port)
      RUST_LOG=warn CIBA_ADMIN_TOKEN=bench-admin-token-0123456789 "$bin/ciba-server" --config bench/bench.toml \
        --listen "127.0.0.1:$port" --database-url "sqlite://$work/bench.db" > "$work/ciba-server.log" 2>&1 &
      ciba_pid=$!
      base[$server]="http://127.0.0.1:$port"; pid[$server]=$ciba_pid
      args[$server]="--admin-token bench-admin-token-0123456789"
      wait_for "${base[$server]}/readyz" ;;
    node-oidc-provider)
      ( cd "$here/node-oidc-provider" && { [ -d node_modules/oidc-provider ] || npm ci --silent --no-audit --no-fund; } )
      port=$(free_port)
      ( cd "$here/node-oidc-provider" && exec env PORT="$port" PING_ENDPOINT=https://127.0.0.1:8999/ping node server.mjs ) \
        > "$work/node-oidc-provider.log" 2>&1 &
      node_pid=$!
      base[$server]="http://127.0.0.1:$port"; pid[$server]=$node_pid
      args[$server]="--ping-listen 127.0.0.1:8999"
      wait_for "${base[$server]}/_health" ;;
    keycloak)
      "$here/keycloak/stop.sh" > /dev/null   # a Keycloak left running would hold the ports
      KC_FRESH=1 PING_ENDPOINT=http://127.0.0.1:8999/ping "$here/keycloak/start.sh" > "$work/keycloak-start.log" 2>&1 \
        || { tail -40 "$work/keycloak-start.log" >&2; exit 1; }
      keycloak=1
      # The pid start.sh wrote is kc.sh's; the JVM is its child.
      base[$server]="http://127.0.0.1:${KC_PORT:-8180}/realms/ciba-bench"
      pid[$server]=$(pgrep -P "$(cat "${KC_WORK:-$repo/target/peers/keycloak/run}/keycloak.pid")" java)
      args[$server]="--ping-listen 127.0.0.1:8999 --approve-base http://127.0.0.1:${AUTH_CHANNEL_PORT:-8998}" ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  echo "$server: ${base[$server]} (pid ${pid[$server]})"
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; servers and load generator share it"
echo "$rounds rounds × (${servers[*]}), ${seconds} s per phase, clients $concurrency, ${warmup} s warm-up first"
for round in $(seq 1 "$rounds"); do
  for server in "${servers[@]}"; do
    warm=0; [ "$round" = 1 ] && warm=$warmup
    # shellcheck disable=SC2086
    "$bin/ciba-load" --peer "$server" --base "${base[$server]}" ${args[$server]} \
      --seconds "$seconds" --concurrency "$concurrency" --warmup "$warm" \
      --label "$server" --json "$work/round$round-$server.json" > "$work/round$round-$server.md"
  done
done

# VmHWM is the process's peak over its life: read once, after the last round.
peaks=()
for server in "${servers[@]}"; do
  peaks+=(--peak-rss "$server=$(awk '/VmHWM/ {print $2}' "/proc/${pid[$server]}/status" 2>/dev/null || echo 0)")
done
python3 "$here/summary.py" "$work" "${servers[@]}" "${peaks[@]}" ${BENCH_JSON:+--json "$BENCH_JSON"}
