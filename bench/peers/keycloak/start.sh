#!/usr/bin/env bash
# Starts the Keycloak peer: a throwaway PostgreSQL (scripts/pg-cluster.sh), the loopback CIBA
# authentication channel (auth-channel.mjs), then Keycloak (`kc.sh build` once, `start --optimized`)
# importing realm.json. Returns when the realm answers; stop with bench/peers/keycloak/stop.sh.
#   bench/peers/keycloak/start.sh
# Environment (defaults):
#   KC_PORT=8180 KC_MANAGEMENT_PORT=9180 PG_PORT=55480 AUTH_CHANNEL_PORT=8998
#   PING_ENDPOINT=http://127.0.0.1:8999/ping   the bench-ping client's notification endpoint
#   AUTO_APPROVE_MS, AUTO_APPROVE_HINTS        passed to auth-channel.mjs (see there)
#   KC_WORK=<repo>/target/peers/keycloak/run   PostgreSQL data, logs, pids
#   KC_FRESH=1                                  start from an empty database (default: keep it)
#   JAVA_OPTS_KC_HEAP="-Xms1g -Xmx2g"            the JVM heap (kc.sh's variable)
#   KC_FEATURES=                                 e.g. "stateless" (build option; see README)
#   KC_EXTRA_ARGS=                               more `kc.sh start` options
# Needs: JDK 17+ (java on PATH or JAVA_HOME), node, curl, psql; PostgreSQL (pg-cluster.sh installs
# it with apt when root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
kc_port=${KC_PORT:-8180}
mgmt_port=${KC_MANAGEMENT_PORT:-9180}
pg_port=${PG_PORT:-55480}
ac_port=${AUTH_CHANNEL_PORT:-8998}
ping_endpoint=${PING_ENDPOINT:-http://127.0.0.1:8999/ping}
work=${KC_WORK:-$repo/target/peers/keycloak/run}
realm=ciba-bench

home=$("$here/install.sh")
mkdir -p "$work"
chmod 755 "$work"

# 1. PostgreSQL: a cluster of its own, database "keycloak".
if [ "${KC_FRESH:-0}" = 1 ] && [ -d "$work/pg" ]; then
  "$repo/scripts/pg-cluster.sh" stop "$work/pg"
  rm -rf "$work/pg" "$work/pg.initdb.log"
fi
pg_url=$("$repo/scripts/pg-cluster.sh" start "$work/pg" "$pg_port")   # postgres://postgres@127.0.0.1:<port>/postgres
if ! psql "$pg_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'keycloak'" 2>/dev/null | grep -q 1; then
  psql "$pg_url" -qc "CREATE DATABASE keycloak" > /dev/null 2>&1 \
    || runuser -u postgres -- psql "$pg_url" -qc "CREATE DATABASE keycloak"
fi
echo "PostgreSQL: ${pg_url%/postgres}/keycloak"

# 2. The authentication channel (Keycloak calls it synchronously for each backchannel request).
if [ -f "$work/auth-channel.pid" ] && kill -0 "$(cat "$work/auth-channel.pid")" 2>/dev/null; then
  kill "$(cat "$work/auth-channel.pid")"; sleep 0.5
fi
AUTH_CHANNEL_PORT=$ac_port nohup node "$here/auth-channel.mjs" > "$work/auth-channel.log" 2>&1 &
echo $! > "$work/auth-channel.pid"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$ac_port/_pending" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$ac_port/_pending" > /dev/null || { cat "$work/auth-channel.log" >&2; exit 1; }

# 3. The realm to import (data/import is what --import-realm reads; an existing realm is kept).
mkdir -p "$home/data/import"
sed "s|http://127.0.0.1:8999/ping|$ping_endpoint|" "$here/realm.json" > "$home/data/import/$realm-realm.json"

# 4. Build-time options, applied once (kc.sh build), then `start --optimized`.
build_opts=(--db=postgres --cache=local --health-enabled=true)
[ -n "${KC_FEATURES:-}" ] && build_opts+=("--features=$KC_FEATURES")
if [ "$(cat "$work/build-options" 2>/dev/null)" != "${build_opts[*]}" ]; then
  echo "kc.sh build ${build_opts[*]}"
  "$home/bin/kc.sh" build "${build_opts[@]}" > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
  echo "${build_opts[*]}" > "$work/build-options"
fi

export KC_BOOTSTRAP_ADMIN_USERNAME=${KC_BOOTSTRAP_ADMIN_USERNAME:-admin}
export KC_BOOTSTRAP_ADMIN_PASSWORD=${KC_BOOTSTRAP_ADMIN_PASSWORD:-bench-admin-password}
export JAVA_OPTS_KC_HEAP=${JAVA_OPTS_KC_HEAP:--Xms1g -Xmx2g}
# shellcheck disable=SC2086
nohup "$home/bin/kc.sh" start --optimized \
  --db-url-host=127.0.0.1 --db-url-port="$pg_port" --db-url-database=keycloak \
  --db-username=postgres --db-password=unused-trust-auth \
  --http-enabled=true --http-host=127.0.0.1 --http-port="$kc_port" \
  --http-management-port="$mgmt_port" \
  --hostname-strict=false \
  --import-realm \
  --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri="http://127.0.0.1:$ac_port/auth-channel" \
  ${KC_EXTRA_ARGS:-} > "$work/keycloak.log" 2>&1 &
echo $! > "$work/keycloak.pid"

base="http://127.0.0.1:$kc_port/realms/$realm"
for _ in $(seq 1 300); do
  curl -sf "$base/.well-known/openid-configuration" > /dev/null && break
  kill -0 "$(cat "$work/keycloak.pid")" 2>/dev/null || { tail -60 "$work/keycloak.log" >&2; exit 1; }
  sleep 1
done
curl -sf "$base/.well-known/openid-configuration" > /dev/null || { tail -60 "$work/keycloak.log" >&2; exit 1; }
echo "Keycloak: issuer $base"
echo "  backchannel: $base/protocol/openid-connect/ext/ciba/auth"
echo "  token:       $base/protocol/openid-connect/token"
echo "  health:      http://127.0.0.1:$mgmt_port/health/ready"
echo "  auth channel receiver: http://127.0.0.1:$ac_port (POST /_approve?login_hint=…)"
