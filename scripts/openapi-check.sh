#!/usr/bin/env bash
# The OpenAPI check (issue 18): starts the real server (the debug build, a throwaway SQLite
# database, a known admin token), then runs schemathesis — property-based tests generated from
# the document the server serves at /openapi.json — with every check (no server error, no
# undocumented status code, no response that contradicts its schema, invalid input refused,
# authentication not ignored, …) and tests/openapi/schemathesis.toml's exceptions. Installs
# schemathesis (pinned) from PyPI into target/tools/schemathesis on first use (the cargo
# target directory: CARGO_TARGET_DIR when set). Extra arguments
# go to `schemathesis run` (e.g. --max-examples 200, --seed N to replay a run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target="${CARGO_TARGET_DIR:-$root/target}"

version=4.32.5
venv=$target/tools/schemathesis
if ! [[ -x $venv/bin/schemathesis ]] || [[ $("$venv/bin/schemathesis" --version 2>/dev/null) != *"$version"* ]]; then
  echo "== installing schemathesis $version (PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build -p ciba-server --locked --quiet
work=$(mktemp -d /tmp/ciba-openapi-XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
CIBA_ADMIN_TOKEN=$token CIBA_DATA_DIR=$work RUST_LOG=warn \
  "$target/debug/ciba-server" --listen "127.0.0.1:$port" --database-url "sqlite://$work/ciba.db" \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 0.1
done

echo "== schemathesis against http://127.0.0.1:$port/openapi.json"
status=0
(cd "$work" && CIBA_ADMIN_TOKEN=$token "$venv/bin/schemathesis" \
  --config-file "$root/tests/openapi/schemathesis.toml" --no-color \
  run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" --workers 1 "$@") || status=$?
if grep -q "panicked" "$work/server.log"; then
  echo "openapi-check: the server panicked:" >&2
  grep -A5 "panicked" "$work/server.log" >&2
  status=1
fi
if [[ $status -eq 0 ]]; then echo "openapi: schemathesis passed"; else echo "openapi: schemathesis FAILED" >&2; fi
exit $status
