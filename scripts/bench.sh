#!/usr/bin/env bash
# Load benchmark: builds the release binaries, then for each backend starts a fresh server and
# drives it with ciba-load (see bench/src/main.rs). Usage:
#   scripts/bench.sh [sqlite] [postgres] [postgres-pair] [client-auth]   (default: sqlite postgres)
# `postgres-pair` runs two instances on one PostgreSQL database (the same issuer) and spreads the
# load's connections over both (ciba-load --also).
# `client-auth` runs scripts/bench-client-auth.sh: backchannel and token requests with
# client_secret_basic, private_key_jwt (ES256, PS256) and tls_client_auth over TLS.
# Environment: SECONDS_PER_PHASE (default 10), CONCURRENCY (default 16,256), PROFILE (release),
# BENCH_JSON (also write every backend's results to this JSON file, for comparing runs).
# Each phase prints a progress line (stderr); the summary table of every backend comes last.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("$@"); [ ${#backends[@]} -eq 0 ] && backends=(sqlite postgres)
profile=${PROFILE:-release}
cargo build --locked --profile "$profile" -p ciba-server -p ciba-bench
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile"; [ "$profile" = dev ] && bin="$target/debug"
# The resident-set figures assume mimalloc's arena_eager_commit off (.cargo/config.toml).
scripts/check-allocator.sh "$bin/ciba-server" >&2

work=$(mktemp -d /tmp/ciba-bench-XXXXXX); chmod 755 "$work"
server_pid=""; pair_pid=""; pg=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$pair_pid" ] && kill "$pair_pid" 2>/dev/null && wait "$pair_pid" 2>/dev/null
  [ -n "$pg" ] && scripts/pg-cluster.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A server on port $1 for the backend of the loop below; every instance of a pair gets the first
# one's issuer (what a load balancer would give them).
start() {
  RUST_LOG=warn CIBA_ISSUER="http://127.0.0.1:$port" CIBA_ADMIN_TOKEN=bench-admin-token-0123456789 \
    "$bin/ciba-server" --config bench/bench.toml --listen "127.0.0.1:$1" --database-url "$url" \
    > "$work/server-$backend-$1.log" 2>&1 &
}
wait_ready() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/readyz" > /dev/null && break; sleep 0.1; done; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; server and load generator share it"
for backend in "${backends[@]}"; do
  case "$backend" in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres|postgres-pair)
      if [ -z "$pg" ]; then pg=$(scripts/pg-cluster.sh start "$work/pg" "$(free_port)"); fi
      db="bench_$RANDOM"
      psql "$pg" -qc "CREATE DATABASE $db" > /dev/null 2>&1 || runuser -u postgres -- psql "$pg" -qc "CREATE DATABASE $db"
      url="${pg%/postgres}/$db" ;;
    client-auth) scripts/bench-client-auth.sh; continue ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  port=$(free_port)
  start "$port"; server_pid=$!; wait_ready "$port"
  also=()
  if [ "$backend" = postgres-pair ]; then
    second=$(free_port); start "$second"; pair_pid=$!; wait_ready "$second"
    also=(--also "http://127.0.0.1:$second")
  fi
  "$bin/ciba-load" --base "http://127.0.0.1:$port" "${also[@]}" --admin-token bench-admin-token-0123456789 \
    --seconds "${SECONDS_PER_PHASE:-10}" --concurrency "${CONCURRENCY:-16,256}" --label "$backend" \
    --json "$work/results-$backend.json" > "$work/table-$backend.md"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  if [ -n "$pair_pid" ]; then kill "$pair_pid"; wait "$pair_pid" 2>/dev/null || true; pair_pid=""; fi
done

# The summary: every backend's rows (ciba-load's tables, their headers once), and the JSON of
# them all when asked.
tables=("$work"/table-*.md)
if [ -e "${tables[0]}" ]; then
  echo
  head -n 2 "${tables[0]}"
  for table in "${tables[@]}"; do tail -n +3 "$table"; done
  if [ -n "${BENCH_JSON:-}" ]; then
    python3 -c 'import json, sys; json.dump([r for f in sys.argv[2:] for r in json.load(open(f))], open(sys.argv[1], "w"), indent=2)' \
      "$BENCH_JSON" "$work"/results-*.json
    echo "(results also in $BENCH_JSON)"
  fi
fi
