#!/usr/bin/env bash
# The Kotlin bindings, tested for real on the JVM: builds the FFI library and the server, generates
# the Kotlin bindings from the library (library mode), compiles them with the Kotlin compiler
# (Maven, bindings/kotlin/pom.xml) and runs the JUnit suite, which drives the real ciba-server
# through the bindings. Needs a JDK (17+) and Maven; Maven Central for the first run.
# Extra arguments go to Maven (e.g. -Dtest='AuthenticatorTest#*push*').
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

echo "== Kotlin bindings on the JVM"
# The whole workspace, as scripts/test.sh builds it: the same features, so nothing is rebuilt.
cargo build --locked --workspace
run_kotlin_suite kotlin "$repo/bindings/kotlin" "$@"
