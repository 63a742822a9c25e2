# Sourced by the scripts beside it: paths, and the host build of the FFI library that uniffi-bindgen
# reads the interface from (library mode). The interface is the same on every target, so the
# bindings generated from the host library serve Android and iOS; it must be an unstripped build
# (the mobile profile strips the symbols bindgen reads), hence the debug one.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target="${CARGO_TARGET_DIR:-$repo/target}"

case "$(uname -s)" in
  Darwin) host_lib_ext=dylib ;;
  *) host_lib_ext=so ;;
esac

# Builds the host library (debug) and prints its path. The whole workspace's libraries, as
# scripts/test.sh builds them: the same features, so nothing is rebuilt for it.
build_host_library() {
  (cd "$repo" && cargo build --locked --workspace --lib >&2)
  echo "$target/debug/libciba_authenticator_ffi.$host_lib_ext"
}

# generate_bindings LANGUAGE OUT_DIR [extra uniffi-bindgen arguments]; the caller clears OUT_DIR.
generate_bindings() {
  local language=$1 out=$2
  shift 2
  local lib
  lib=$(build_host_library)
  (cd "$repo" && cargo uniffi-bindgen generate --no-format --library "$lib" --language "$language" --out-dir "$out" "$@")
}

# run_kotlin_suite LABEL MODULE_DIR [Maven arguments]: generates the Kotlin bindings from the
# host library into MODULE_DIR/target/generated-sources/uniffi, runs `mvn test` in MODULE_DIR
# with the library's directory and the ciba-server binary as system properties (the caller has
# built the workspace), and prints "LABEL: N passed, N failed[, N skipped]" from surefire's
# reports; returns Maven's status (and fails when no test ran).
run_kotlin_suite() {
  local label=$1 module=$2
  shift 2
  command -v mvn > /dev/null || { echo "$label: Maven (mvn) and a JDK 17+ are needed" >&2; return 1; }
  local lib="$target/debug/libciba_authenticator_ffi.$host_lib_ext"
  local generated="$module/target/generated-sources/uniffi"
  rm -rf "$generated" "$module/target/surefire-reports"
  (cd "$repo" && cargo uniffi-bindgen generate --no-format --library "$lib" --language kotlin --out-dir "$generated")
  local status=0
  # (Maven 3.8 prints colour resets even in batch mode: dropped.)
  (cd "$module" && mvn -q -B -Dstyle.color=never test -Djna.library.path="$target/debug" \
    -Dciba.server="$target/debug/ciba-server" "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g') || status=$?
  # -q keeps Maven quiet, surefire's summary included: count from its reports.
  python3 - "$label" "$module/target/surefire-reports" <<'PY' || status=1
import glob, sys, xml.etree.ElementTree as ET
label, reports = sys.argv[1], sys.argv[2]
tests = failed = skipped = 0
for f in glob.glob(f"{reports}/TEST-*.xml"):
    r = ET.parse(f).getroot()
    tests += int(r.get("tests", 0)); skipped += int(r.get("skipped", 0))
    failed += int(r.get("failures", 0)) + int(r.get("errors", 0))
print(f"{label}: {tests - failed - skipped} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
if tests == 0:
    sys.exit(f"{label}: no test ran")
PY
  return $status
}
