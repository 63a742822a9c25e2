#!/usr/bin/env bash
# Fails when the committed Swift bindings (ios-sample/Generated/) differ from what the FFI crate
# produces now: regenerates them into a temporary directory (generate-swift.sh) and compares.
# The Kotlin bindings are not committed: bindings/scripts/test-kotlin.sh and
# android-sample/scripts/test.sh generate them from the library on every run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fresh=$(mktemp -d /tmp/ciba-swift-XXXXXX)
trap 'rm -rf "$fresh"' EXIT
"$repo/bindings/scripts/generate-swift.sh" "$fresh" > /dev/null
if diff -r -x README.md "$repo/ios-sample/Generated" "$fresh" > "$fresh.diff" 2>&1; then
  echo "generated bindings: ios-sample/Generated/ is what the FFI crate produces"
  rm -f "$fresh.diff"
else
  head -40 "$fresh.diff" >&2
  rm -f "$fresh.diff"
  echo "generated bindings: ios-sample/Generated/ differs from the FFI crate's; run bindings/scripts/generate-swift.sh" >&2
  exit 1
fi
