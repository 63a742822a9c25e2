#!/usr/bin/env bash
# The Android sample's checks (android-sample/README.md, "What ran where"): builds the FFI library
# and the server (the whole workspace, as scripts/test.sh does, so nothing is rebuilt), generates
# the Kotlin bindings from the library, compiles logic/, platform/, androidx/ and firebase/
# against the Android 15 framework API and the AARs' classes (jvm-check/pom.xml), and runs the
# tests: against the real ciba-server and native library, and under Robolectric. Prints
# "android-sample: N passed, N failed". Needs a JDK 17+ and Maven; Maven Central on the first
# run only (then `mvn -o` works without network). Extra arguments go to Maven.
set -euo pipefail
source "$(dirname "$0")/../../bindings/scripts/lib.sh"
cd "$repo"

echo "== android-sample on the JVM (Kotlin against the Android 15 API, Robolectric)"
cargo build --locked --workspace
run_kotlin_suite android-sample "$repo/android-sample/jvm-check" "$@"
