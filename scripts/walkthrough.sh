#!/usr/bin/env bash
# Runs the README walkthrough, step by step, against the real binaries in a scratch directory,
# and fails if any step does not give what the README promises. CI runs it after the tests.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin="${CARGO_TARGET_DIR:-$repo/target}/debug"
export PATH="$bin:$PATH"
work=$(mktemp -d)
cd "$work"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "walkthrough: $*" >&2; [ -f server.log ] && tail -20 server.log >&2; exit 1; }

# 1. The server with its embedded defaults (SQLite under ./data, http://127.0.0.1:8080).
ciba-server > server.log 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:8080/healthz > /dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:8080/healthz > /dev/null || fail "the server did not start"

# --- From here on, the README's commands, verbatim. ---
ADMIN="Authorization: Bearer $(cat data/admin-token)"
AS=http://127.0.0.1:8080

USER_ID=$(curl -s -X POST $AS/admin/v1/users -H "$ADMIN" -H 'Content-Type: application/json' \
  -d '{"username":"alice","email":"alice@example.com","display_name":"Alice Martin"}' | jq -r '.id // error(tostring)')

curl -s -X POST $AS/admin/v1/clients -H "$ADMIN" -H 'Content-Type: application/json' \
  -d '{"name":"Customer Service Console","backchannel_token_delivery_mode":"poll","scope":"openid profile accounts"}' > client.json
CLIENT_ID=$(jq -r '.client_id // error(tostring)' client.json); CLIENT_SECRET=$(jq -r .client_secret client.json)

URI=$(curl -s -X POST $AS/admin/v1/users/$USER_ID/enrollments -H "$ADMIN" | jq -r '.uri // error(tostring)')
ciba-authenticator enroll "$URI" --name "My terminal"

AUTH_REQ_ID=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $AS/backchannel/authenticate \
  -d scope="openid accounts" -d login_hint=alice -d binding_message="W4-7QX" | jq -r '.auth_req_id // error(tostring)')

curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $AS/token \
  -d grant_type=urn:openid:params:grant-type:ciba -d auth_req_id=$AUTH_REQ_ID > pending.json

ciba-authenticator list > list.txt
TXN=$(ciba-authenticator list | grep -o 'txn_[A-Za-z0-9_-]*' | head -1)
ciba-authenticator show "$TXN" > show.txt
ciba-authenticator approve "$TXN"

sleep 5
curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $AS/token \
  -d grant_type=urn:openid:params:grant-type:ciba -d auth_req_id=$AUTH_REQ_ID > tokens.json
# --- End of the README's commands. ---

# --- The ping client part: restart with the development switch. ---
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
CIBA_DEV_LOCAL_NOTIFICATIONS=true ciba-server > server.log 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:8080/healthz > /dev/null && break; sleep 0.2; done

python3 -c '
import http.server as h
class R(h.BaseHTTPRequestHandler):
    def do_POST(s): print(s.headers["Authorization"], s.rfile.read(int(s.headers["Content-Length"])).decode(), flush=True); s.send_response(204); s.end_headers()
h.HTTPServer(("127.0.0.1", 9000), R).serve_forever()' > pings.txt 2> receiver.log &
receiver_pid=$!
until curl -s -o /dev/null http://127.0.0.1:9000/; do sleep 0.2; done   # the receiver listens

curl -s -X POST $AS/admin/v1/clients -H "$ADMIN" -H 'Content-Type: application/json' \
  -d '{"name":"Shop Terminal","backchannel_token_delivery_mode":"ping","backchannel_client_notification_endpoint":"http://127.0.0.1:9000/ciba"}' > ping-client.json
PING_ID=$(jq -r '.client_id // error(tostring)' ping-client.json); PING_SECRET=$(jq -r .client_secret ping-client.json)

PING_REQ=$(curl -s -u "$PING_ID:$PING_SECRET" $AS/backchannel/authenticate \
  -d scope=openid -d login_hint=alice -d client_notification_token=my-callback-token | jq -r '.auth_req_id // error(tostring)')
ciba-authenticator watch --auto approve --once
sleep 1
curl -s -u "$PING_ID:$PING_SECRET" $AS/token \
  -d grant_type=urn:openid:params:grant-type:ciba -d auth_req_id=$PING_REQ > ping-tokens.json
kill "$receiver_pid"

grep -q "Bearer my-callback-token {\"auth_req_id\": \?\"$PING_REQ\"}" pings.txt || fail "no ping: $(cat pings.txt)"
[ "$(jq -r .token_type ping-tokens.json)" = Bearer ] || fail "ping client got no tokens: $(cat ping-tokens.json)"

[[ "$USER_ID" == usr_* ]] || fail "no user id"
[ "$(jq -r .error pending.json)" = authorization_pending ] || fail "first poll: $(cat pending.json)"
grep -q 'W4-7QX' list.txt || fail "the request is not listed: $(cat list.txt)"
grep -q 'Customer Service Console' show.txt || fail "show: $(cat show.txt)"
[ "$(jq -r .token_type tokens.json)" = Bearer ] || fail "no tokens: $(cat tokens.json)"
jq -e '.id_token | length > 0' tokens.json > /dev/null || fail "no id_token"
echo "walkthrough: every README step gave what it promises"
