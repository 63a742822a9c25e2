#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that take outside input (fuzz/README.md).
#
#   scripts/fuzz.sh [--ci] [seconds] [target...]
#
# Installs cargo-fuzz when missing, builds every target once with nightly, then runs each given
# target (all by default) for `seconds` (default 60; 10 with --ci) on its corpus in fuzz/corpus/,
# which the run grows. With --ci the committed corpus is only read: new inputs go to a throwaway
# directory. One line per target with the executions it did, then `fuzz: N passed, N failed`; a
# target that crashes (or hangs, or runs out of memory) fails, its input is kept under
# fuzz/artifacts/<target>/ and the script exits non-zero. FUZZ_ARGS adds libFuzzer flags to every
# run (e.g. FUZZ_ARGS=-runs=10000000 to stop a target at ten million executions).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ci=false
seconds=""
targets=()
for arg in "$@"; do
  case "$arg" in
    --ci) ci=true ;;
    -h | --help)
      sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "fuzz.sh: unknown option $arg" >&2
      exit 2
      ;;
    *)
      if [[ -z "$seconds" && "$arg" =~ ^[0-9]+$ ]]; then
        seconds=$arg
      else
        targets+=("$arg")
      fi
      ;;
  esac
done
if [[ -z "$seconds" ]]; then
  if $ci; then seconds=10; else seconds=60; fi
fi

if ! cargo +nightly --version > /dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version > /dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
# cargo-fuzz's defaults: optimised, with debug assertions and overflow checks, and Address
# Sanitizer for the C and unsafe code underneath. Into fuzz/target, not the workspace's target/
# (nor a CARGO_TARGET_DIR the other scripts share: its sanitizer flags would rebuild everything).
echo "== building the fuzz targets (nightly)"
env -u CARGO_TARGET_DIR cargo +nightly fuzz build
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
bin_dir=$root/fuzz/target/x86_64-unknown-linux-gnu/release

scratch=$(mktemp -d /tmp/ciba-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
crashes=()
for target in "${targets[@]}"; do
  corpus=$root/fuzz/corpus/$target
  artifacts=$root/fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  if $ci; then
    # libFuzzer writes new inputs into its first corpus directory only: a copy of the corpus.
    dirs=("$scratch/$target")
    cp -r "$corpus" "$scratch/$target"
  else
    dirs=("$corpus")
  fi
  log=$scratch/$target.log
  status=0
  started=$SECONDS
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin_dir/$target" "${dirs[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} > "$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  took=$((SECONDS - started))
  size=$(find "${dirs[0]}" -type f | wc -l)
  if [[ $status -eq 0 ]]; then
    passed=$((passed + 1))
    echo "fuzz target $target: ok, ${execs:-?} executions in ${took} s, corpus $size inputs"
  else
    failed=$((failed + 1))
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz target $target: FAILED (exit $status) after ${execs:-?} executions in ${took} s"
    # The crash report: what libFuzzer printed from the first error on.
    sed -n '/==ERROR\|panicked at\|ERROR: libFuzzer\|SUMMARY/,$p' "$log" | head -n 60
    echo "fuzz target $target: crash input ${artifact:-not written (see the log above)}"
    crashes+=("${artifact:-$target}")
  fi
done

echo "fuzz: $passed passed, $failed failed"
if [[ $failed -gt 0 ]]; then
  printf 'crash artifact: %s\n' "${crashes[@]}"
  exit 1
fi
