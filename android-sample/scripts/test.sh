#!/usr/bin/env bash
# The Android sample's checks (android-sample/README.md, "What ran where"): builds the FFI library
# and the server (the whole workspace, as scripts/test.sh does, so nothing is rebuilt), generates
# the Kotlin bindings from the library, compiles logic/, platform/, androidx/ and firebase/
# against the Android 15 framework API and the AARs' classes (jvm-check/pom.xml), and runs the
# tests: against the real ciba-server and native library, and under Robolectric. Prints
# "android-sample: N passed, N failed". Needs a JDK 17+ and Maven; Maven Central on the first
# run only (then `mvn -o` works without network). Extra arguments go to Maven.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"

echo "== android-sample on the JVM (Kotlin against the Android 15 API, Robolectric)"
command -v mvn > /dev/null || { echo "android-sample: Maven (mvn) and a JDK 17+ are needed" >&2; exit 1; }
cargo build --locked --workspace
lib="$target/debug/libciba_authenticator_ffi.so"
generated="$repo/android-sample/jvm-check/target/generated-sources/uniffi"
rm -rf "$generated"
cargo uniffi-bindgen generate --no-format --library "$lib" --language kotlin --out-dir "$generated"

cd android-sample/jvm-check
rm -rf target/surefire-reports
status=0
mvn -q -B -Dstyle.color=never test -Djna.library.path="$target/debug" -Dciba.server="$target/debug/ciba-server" "$@" 2>&1 \
  | sed 's/\x1b\[[0-9;]*m//g' || status=$?

python3 - <<'PY'
import glob, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in glob.glob("target/surefire-reports/TEST-*.xml"):
    r = ET.parse(f).getroot()
    tests += int(r.get("tests", 0)); skipped += int(r.get("skipped", 0))
    failed += int(r.get("failures", 0)) + int(r.get("errors", 0))
print(f"android-sample: {tests - failed - skipped} passed, {failed} failed")
if tests == 0:
    raise SystemExit("android-sample: no test ran")
PY
exit $status
