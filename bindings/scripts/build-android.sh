#!/usr/bin/env bash
# Builds the Android library (AAR) of the authenticator SDK:
#   1. the native library for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk, size-optimised
#      (profile `mobile`) and linked for 16 KB pages (required on Android 15+ devices with 16 KB
#      pages, and by Google Play for new apps);
#   2. the Kotlin bindings, generated from the host library with uniffi-android.toml on top
#      (Android's SystemCleaner);
#   3. the AAR (bindings/android, Gradle + Android Gradle Plugin): jniLibs, the bindings,
#      CibaAndroid.kt, consumer R8 rules, and dependencies on JNA (@aar), kotlinx-coroutines and
#      rustls-platform-verifier's Kotlin component.
# Output: bindings/android/build/outputs/aar/ciba-authenticator-release.aar (and, with
# --publish, the AAR with its POM in ~/.m2, so that an app resolves its dependencies).
#
# Needs: the Android NDK (ANDROID_NDK_HOME, r26+), `cargo install cargo-ndk`, the Rust targets
# (rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android), the
# Android SDK (ANDROID_HOME, platform 35), Gradle 8.9+ on PATH, and a JDK 17.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
module="$repo/bindings/android"
publish=false
[ "${1:-}" = "--publish" ] && publish=true

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
command -v cargo-ndk > /dev/null || { echo "cargo-ndk is missing: cargo install cargo-ndk" >&2; exit 1; }

echo "== native libraries (cargo-ndk, profile mobile, 16 KB pages)"
jni_libs="$module/build/jniLibs"
rm -rf "$jni_libs"
# ABI → Rust target triple.
for pair in arm64-v8a:aarch64-linux-android armeabi-v7a:armv7-linux-androideabi x86_64:x86_64-linux-android; do
  abi=${pair%%:*} triple=${pair#*:}
  # API 24 (Android 7.0) is the AAR's minSdk. Only the cdylib is built (no staticlib for
  # Android), and the flags after `--` reach its link alone.
  (cd "$repo" && cargo ndk --platform 24 -t "$abi" rustc --locked -p ciba-authenticator-ffi --lib \
    --profile mobile --crate-type cdylib -- -C link-arg=-Wl,-z,max-page-size=16384)
  mkdir -p "$jni_libs/$abi"
  cp "$target/$triple/mobile/libciba_authenticator_ffi.so" "$jni_libs/$abi/"
done
# Every LOAD segment must be aligned to 16 KB (0x4000) or more.
readelf=$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-readelf 2> /dev/null | head -1)
for so in "$jni_libs"/*/libciba_authenticator_ffi.so; do
  if "${readelf:-readelf}" -lW "$so" | awk '$1 == "LOAD" { print $NF }' | grep -qvE '^0x(4000|8000|10000)$'; then
    echo "not aligned to 16 KB pages: $so" >&2
    exit 1
  fi
done
ls -l "$jni_libs"/*/

echo "== Kotlin bindings (android = true)"
rm -rf "$module/build/generated/uniffi"
generate_bindings kotlin "$module/build/generated/uniffi" --config "$repo/bindings/uniffi-android.toml"

echo "== AAR"
# rustls-platform-verifier's Kotlin component must be exactly the version of its crate.
verifier_version=$(awk '/^name = "rustls-platform-verifier-android"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$repo/Cargo.lock")
sdk_version=$(cd "$repo" && cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ciba-authenticator-ffi"))')
tasks=(assembleRelease)
$publish && tasks+=(publishToMavenLocal)
(cd "$module" && gradle --no-daemon -q "${tasks[@]}" \
  -PrustlsPlatformVerifierVersion="$verifier_version" -PsdkVersion="$sdk_version")
ls -l "$module/build/outputs/aar/"
