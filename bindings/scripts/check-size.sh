#!/usr/bin/env bash
# Size budget of the mobile library: builds the FFI library for the host (x86_64 Linux) with the
# size-optimised `mobile` profile (LTO, opt-level z, stripped; minutes on two cores) and fails
# when it is more than 10% larger than the size recorded in bindings/size-budget.txt. Phones get
# the same code for other CPUs, so host growth tracks theirs. After a deliberate growth, record
# the new size in the budget file (in the same commit, saying why).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

(cd "$repo" && cargo rustc --locked -p ciba-authenticator-ffi --lib --profile mobile --crate-type cdylib)
so="$target/mobile/libciba_authenticator_ffi.$host_lib_ext"
size=$(wc -c < "$so" | tr -d ' ')
budget=$(grep -v '^#' "$repo/bindings/size-budget.txt" | tr -d ' ' | grep -m1 .)
limit=$(( budget * 110 / 100 ))
echo "size: libciba_authenticator_ffi.$host_lib_ext (profile mobile, stripped) is $size bytes; recorded $budget, limit $limit (+10%)"
if [ "$size" -gt "$limit" ]; then
  echo "size: the mobile library grew by more than 10% over bindings/size-budget.txt" >&2
  exit 1
fi
