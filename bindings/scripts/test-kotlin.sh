#!/usr/bin/env bash
# The Kotlin bindings, tested for real on the JVM: builds the FFI library and the server, generates
# the Kotlin bindings from the library (library mode), compiles them with the Kotlin compiler
# (Maven, bindings/kotlin/pom.xml) and runs the JUnit suite, which drives the real ciba-server
# through the bindings. Needs a JDK (17+) and Maven; Maven Central for the first run.
# Extra arguments go to Maven (e.g. -Dtest='AuthenticatorTest#*push*').
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"

echo "== Kotlin bindings on the JVM"
command -v mvn > /dev/null || { echo "test-kotlin: Maven (mvn) and a JDK 17+ are needed" >&2; exit 1; }
# The whole workspace, as scripts/test.sh builds it: the same features, so nothing is rebuilt.
cargo build --locked --workspace
lib="$target/debug/libciba_authenticator_ffi.so"
generated="$repo/bindings/kotlin/target/generated-sources/uniffi"
rm -rf "$generated"
cargo uniffi-bindgen generate --no-format --library "$lib" --language kotlin --out-dir "$generated"

cd bindings/kotlin
status=0
# (Maven 3.8 prints colour resets even in batch mode: dropped.)
mvn -q -B -Dstyle.color=never test -Djna.library.path="$target/debug" -Dciba.server="$target/debug/ciba-server" "$@" 2>&1 \
  | sed 's/\x1b\[[0-9;]*m//g' || status=$?

# -q keeps Maven quiet, surefire's summary included: count from its reports.
python3 - <<'PY'
import glob, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in glob.glob("target/surefire-reports/TEST-*.xml"):
    r = ET.parse(f).getroot()
    tests += int(r.get("tests", 0)); skipped += int(r.get("skipped", 0))
    failed += int(r.get("failures", 0)) + int(r.get("errors", 0))
print(f"kotlin: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit $status
