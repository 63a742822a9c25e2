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
