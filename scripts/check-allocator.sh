#!/usr/bin/env bash
# Checks that a built ciba-server runs mimalloc with `arena_eager_commit` off, the default that
# .cargo/config.toml compiles in (a CFLAGS in the builder's environment replaces it). Usage:
#   scripts/check-allocator.sh [path/to/ciba-server]   (default target/debug/ciba-server)
set -euo pipefail
bin=${1:-${CARGO_TARGET_DIR:-target}/debug/ciba-server}
[ -x "$bin" ] || { echo "check-allocator: no executable at $bin (build it first)" >&2; exit 1; }
# mimalloc prints its options (on stderr) at start-up when verbose.
value=$(env -u MIMALLOC_ARENA_EAGER_COMMIT MIMALLOC_VERBOSE=1 "$bin" --help 2>&1 >/dev/null \
  | sed -n "s/^option 'arena_eager_commit': \([0-9-]*\).*/\1/p" || true)
if [ -z "$value" ]; then
  echo "check-allocator: $bin printed no mimalloc options (is mimalloc its allocator?)" >&2; exit 1
fi
if [ "$value" != 0 ]; then
  echo "check-allocator: $bin has mimalloc's arena_eager_commit = $value, not 0: was it built with a CFLAGS of its own? Add -DMI_DEFAULT_ARENA_EAGER_COMMIT=0 to it (.cargo/config.toml)" >&2
  exit 1
fi
echo "check-allocator: $bin: mimalloc, arena_eager_commit = 0"
