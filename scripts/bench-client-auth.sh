#!/usr/bin/env bash
# Client authentication under load (README "FAPI-CIBA"): a fresh server on SQLite with its own
# TLS listener and a client CA (certificates made here with openssl), then ciba-auth-load
# (bench/src/bin/ciba-auth-load.rs): backchannel and token requests with client_secret_basic,
# private_key_jwt (ES256, PS256) and tls_client_auth, all over the same TLS, alternating rounds.
# Environment: SECONDS_PER_PHASE (default 5), CONCURRENCY (default 16), ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release -p ciba-server -p ciba-bench
bin=target/release

work=$(mktemp -d /tmp/ciba-auth-bench-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A CA, the server's localhost certificate, a client certificate (P-256 keys throughout).
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Bench CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
  -out server.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Bench/CN=load-client" \
  -keyout client.key -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext \
  -out client.pem 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in client.key -out client.pk8 2>/dev/null
cat client.pem client.pk8 > client-identity.pem
cd - > /dev/null

cat > "$work/bench.toml" <<TOML
log_format = "text"
database_max_connections = 16
issuer = "https://localhost:$port"
[ciba]
max_pending_requests_per_user = 0
client_requests_per_second = 0
[tls]
certificate_file = "$work/server.pem"
private_key_file = "$work/server.key"
client_ca_files = ["$work/ca.pem"]
TOML

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; server and load generator share it"
RUST_LOG=warn CIBA_ADMIN_TOKEN=bench-admin-token-0123456789 "$bin/ciba-server" --config "$work/bench.toml" \
  --listen "127.0.0.1:$port" --database-url "sqlite://$work/bench.db" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/ca.pem" "https://localhost:$port/readyz" > /dev/null && break
  sleep 0.1
done
"$bin/ciba-auth-load" --base "https://localhost:$port" --admin-token bench-admin-token-0123456789 \
  --ca "$work/ca.pem" --client-identity "$work/client-identity.pem" --client-dn "CN=load-client,O=Bench" \
  --rsa-key tests/fixtures/keys/client-rsa-1.pem --rsa-jwk tests/fixtures/keys/client-rsa-1.pub.jwk.json \
  --seconds "${SECONDS_PER_PHASE:-5}" --concurrency "${CONCURRENCY:-16}" --rounds "${ROUNDS:-2}"
