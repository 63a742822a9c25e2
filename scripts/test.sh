#!/usr/bin/env bash
# The whole test suite: unit tests and the end-to-end suite on SQLite, schemathesis against the
# served OpenAPI document (scripts/openapi-check.sh), then the end-to-end suite again on
# PostgreSQL, on a throwaway cluster this script starts (installing PostgreSQL with apt when it
# is missing and we are root), then the Kotlin bindings' suite and the sample apps' checks
# (android-sample/, ios-sample/). Extra arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== the relying-party library of tests/rp.rs (openid-client) and the browser driver of"
echo "   tests/console.rs (playwright-core), from their package-lock.json"
npm ci --prefix tests/rp --no-audit --no-fund --loglevel=error
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
if [[ -z "${CHROMIUM:-}" ]] && ! [[ -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
    echo "== installing Chromium (the console's browser tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
  else
    echo "test.sh: the console's browser tests need Chromium: apt-get install chromium (or set CHROMIUM)" >&2
    exit 2
  fi
fi

echo "== unit and end-to-end tests (SQLite)"
# Some end-to-end tests start the real `ciba-server` binary (to give it its own environment) or
# the terminal authenticator as a subprocess; `cargo test` builds only the binaries of packages
# whose own integration tests need them, so build them first. Every cargo command of this script
# (and of the Kotlin suite's) selects the whole workspace, so that features unify the same way
# each time and no phase rebuilds what the first one built.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"

echo "== the OpenAPI document against the real server (schemathesis)"
scripts/openapi-check.sh

echo "== end-to-end tests (PostgreSQL)"
work=$(mktemp -d /tmp/ciba-pg-XXXXXX)
chmod 755 "$work" # the postgres account must reach the cluster inside
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { scripts/pg-cluster.sh stop "$work/data" || true; rm -rf "$work"; }
trap cleanup EXIT
url=$(scripts/pg-cluster.sh start "$work/data" "$port")
# The stores' own suite (server/src/store/integration_tests.rs) on PostgreSQL too.
CIBA_TEST_POSTGRES_URL="$url" cargo test --workspace --lib --locked store::integration_tests::postgres
CIBA_TEST_POSTGRES_URL="$url" cargo test --workspace --test e2e --locked "$@"

bindings/scripts/test-kotlin.sh

echo "== the sample apps: Android (JVM and Robolectric), iOS (static checks), generated bindings"
android-sample/scripts/test.sh
python3 ios-sample/scripts/check.py
bindings/scripts/check-generated.sh
