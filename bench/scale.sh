#!/usr/bin/env bash
# Scale of state: the hot path with an empty database, with a million pending requests in it, and
# while a million expired requests are swept. Usage:
#   bench/scale.sh [sqlite|postgres]        (default sqlite)
# Environment: SEED (pending requests, default 1000000), SEED_EXPIRY (their requested_expiry,
# default 900 s: longer than the seeding and the measurement after it, so that nothing seeded
# expires, and is swept, before step 3), SECONDS_PER_PHASE (default 10), CONCURRENCY (default 16).
#
# 1. A fresh server (bench/bench.toml, tombstone_retention = 0 so that a request is swept as soon
#    as it expires) and a fresh database; ciba-load measures backchannel requests, polls on
#    pending requests and redemptions ("empty").
# 2. ciba-load creates SEED pending requests through the backchannel endpoint (spread over
#    10 000 users other than the measured ones; each with its audit event), then measures again
#    ("1M pending"). The database's growth over the requests added is the bytes per request.
# 3. The server stops until every seeded request has expired, then starts again: its first
#    sweep (at start, then every 60 s) deletes them all while ciba-load measures ("sweeping").
#    A watcher counts the requests table every second, so the table shows how long the sweep
#    took and whether it overlapped the measurement.
# Server memory is sampled every second: the heap (RssAnon; its peak during each step) apart from
# the database pages SQLite maps (RssFile: the kernel's page cache, shared and reclaimable).
# Takes about 30 minutes on SQLite (most of it waiting for the seeded requests to expire).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
seed=${SEED:-1000000}
expiry=${SEED_EXPIRY:-900}
secs=${SECONDS_PER_PHASE:-10}
conc=${CONCURRENCY:-16}
cargo build --locked --release -p ciba-server -p ciba-bench
bin="${CARGO_TARGET_DIR:-target}/release"
scripts/check-allocator.sh "$bin/ciba-server" >&2
work=$(mktemp -d /tmp/ciba-scale-XXXXXX); chmod 755 "$work"
server_pid=""; watcher=""; sampler=""; pg=""
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$pg" ] && scripts/pg-cluster.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$backend" in
  sqlite)
    url="sqlite://$work/scale.db"
    count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30).execute("SELECT count(*) FROM requests").fetchone()[0])' "$work/scale.db"; }
    # The database's pages in use (the write-ahead log's included, free pages not).
    bytes() { python3 -c 'import sqlite3, sys; c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30); p = lambda q: c.execute(q).fetchone()[0]; print((p("PRAGMA page_count") - p("PRAGMA freelist_count")) * p("PRAGMA page_size"))' "$work/scale.db"; } ;;
  postgres)
    pg=$(scripts/pg-cluster.sh start "$work/pg" "$(free_port)")
    psql "$pg" -qc "CREATE DATABASE scale" > /dev/null
    url="${pg%/postgres}/scale"
    count() { psql "$url" -tAc "SELECT count(*) FROM requests"; }
    # What the tables and their indexes occupy.
    bytes() { psql "$url" -tAc "SELECT pg_database_size(current_database())"; } ;;
  *) echo "unknown backend $backend (sqlite or postgres)" >&2; exit 2 ;;
esac
port=$(free_port)
base="http://127.0.0.1:$port"
token=bench-admin-token-0123456789

start_server() {
  RUST_LOG=warn CIBA_ADMIN_TOKEN=$token CIBA_CIBA__TOMBSTONE_RETENTION=0 "$bin/ciba-server" \
    --config bench/bench.toml --listen "127.0.0.1:$port" --database-url "$url" >> "$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do curl -sf "$base/readyz" > /dev/null && return; sleep 0.1; done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
# Every second: the time, the server's heap and its mapped file pages (MiB).
( while true; do
    p=$(pgrep -f -- "--listen 127.0.0.1:$port" | head -n 1 || true)
    [ -n "$p" ] && awk -v t="$(date +%s)" '/RssAnon/ {a = $2} /RssFile/ {f = $2} END {if (a) printf "%d %d %d\n", t, a / 1024, f / 1024}' "/proc/$p/status" 2> /dev/null
    sleep 1
  done ) > "$work/mem.log" &
sampler=$!
load() { # label, extra ciba-load arguments
  local label=$1; shift
  local t0; t0=$(date +%s)
  "$bin/ciba-load" --base "$base" --admin-token $token --seconds "$secs" --concurrency "$conc" \
    --phases backchannel,poll-pending,poll-ready --label "$label" --json "$work/$label.json" "$@" \
    > "$work/$label.md"
  awk -v t0="$t0" -v label="$label" '$1 >= t0 {if ($2 > peak) peak = $2; if ($3 > file) file = $3; now = $2}
    END {printf "%s: heap peak %d MiB (%d MiB at the end), mapped database pages up to %d MiB\n", label, peak, now, file}' \
    "$work/mem.log" | tee -a "$work/memory.txt"
}

echo "machine: $(nproc) cores; server, database and load generator share it; backend $backend"
start_server
echo "[scale] empty database" >&2
load empty
before=$(bytes); rows_before=$(count)
echo "[scale] seeding $seed pending requests (requested_expiry $expiry s), then measuring" >&2
load full --seed "$seed" --seed-expiry "$expiry"
# Every seeded request expires by the end of the seeding + expiry; the full phase came after the
# seeding, so its end + expiry is a safe bound.
until_epoch=$(( $(date +%s) + expiry + 5 ))
after=$(bytes); rows_after=$(count)
stop_server
echo "database: $before bytes with $rows_before requests, $after bytes with $rows_after requests"
echo "[scale] server stopped until the seeded requests have expired ($(( until_epoch - $(date +%s) )) s)" >&2
sleep $(( until_epoch - $(date +%s) ))
( while true; do echo "$(date +%s.%N) $(count 2>/dev/null || echo '?')"; sleep 1; done ) > "$work/rows.log" &
watcher=$!
start_server
load_start=$(date +%s.%N)
echo "[scale] measuring while the first sweep deletes them" >&2
load sweeping
load_end=$(date +%s.%N)
echo "[scale] waiting for the sweep to finish (the count unchanged for 10 s)" >&2
last=""; same=0
while [ "$same" -lt 10 ]; do
  sleep 1; now=$(tail -n 1 "$work/rows.log" | cut -d' ' -f2)
  if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
done
kill "$watcher"; watcher=""
stop_server

python3 - "$work" "$seed" "$before" "$after" "$load_start" "$load_end" "$rows_before" "$rows_after" <<'PY'
import json, sys
work, seed, before, after, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rows_before, rows_after = int(sys.argv[7]), int(sys.argv[8])
mem = dict(l.split(": ", 1) for l in open(f"{work}/memory.txt").read().splitlines())
rows = []
for line in open(f"{work}/rows.log"):
    t, n = line.split()
    if n != "?":
        rows.append((float(t), int(n)))
def phases(label):
    return {r["phase"]: r for r in json.load(open(f"{work}/{label}.json"))}
seeded = phases("full").get("seeded pending requests")
print()
if seeded:
    print(f"seeding: {seeded['ok']} requests at {seeded['rate_per_s']:.0f}/s ({seeded['other']} refused)")
added = rows_after - rows_before
print(f"database: {before} bytes with {rows_before} requests, {after} bytes with {rows_after}: "
      f"{(after - before) / max(added, 1):.0f} bytes per request added (its row, indexes, audit event)")
if rows:
    start, first = rows[0]
    low = min(n for _, n in rows)
    done = next(t for t, n in rows if n == low)
    print(f"sweep: {first} requests when the watcher started, {low} (the unexpired ones) "
          f"{done - start:.0f} s later ({(first - low) / max(done - start, 1):.0f} deleted/s); "
          f"the load ran from +{t0 - start:.0f} s to +{t1 - start:.0f} s")
print()
print("| database | backchannel/s | p99 ms | polls on pending/s | p99 ms | redemptions/s | p99 ms | server heap, mapped pages |")
print("|---|---|---|---|---|---|---|---|")
for label, name in [("empty", "empty"), ("full", f"{seed} pending"), ("sweeping", f"sweeping {seed} expired")]:
    p = phases(label)
    cells = []
    for prefix in ["backchannel requests", "token polls, pending", "token polls, ready"]:
        r = next((v for k, v in p.items() if k.startswith(prefix)), None)
        cells += [f"{r['rate_per_s']:.0f}", f"{r['p99_ms']:.1f}"] if r else ["–", "–"]
    print(f"| {name} | " + " | ".join(cells) + f" | {mem.get(label, '')} |")
PY
