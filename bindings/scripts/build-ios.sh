#!/usr/bin/env bash
# Builds the iOS SDK: the Rust static library per target (profile `mobile`), the simulator
# targets merged with lipo, an XCFramework with the C header and module map, and the Swift
# package in bindings/apple (Package.swift, binaryTarget) with the generated Swift.
#   device:     aarch64-apple-ios
#   simulator:  aarch64-apple-ios-sim + x86_64-apple-ios (one universal library)
#   macOS:      aarch64-apple-darwin + x86_64-apple-darwin, so that `swift test` runs on a Mac
# Output: bindings/apple/build/CibaAuthenticatorFFI.xcframework, and
# bindings/apple/Sources/CibaAuthenticator/CibaAuthenticator.swift.
#
# Needs a Mac with Xcode (xcodebuild, lipo) and the Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin
set -euo pipefail
source "$(dirname "$0")/lib.sh"
package="$repo/bindings/apple"
build="$package/build"
name=libciba_authenticator_ffi.a

echo "== Swift bindings (ios-sample/Generated, the committed copy)"
"$repo/bindings/scripts/generate-swift.sh" "$repo/ios-sample/Generated"

echo "== static libraries (profile mobile)"
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
for triple in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  # Only the staticlib: no cdylib for Apple platforms.
  (cd "$repo" && cargo rustc --locked -p ciba-authenticator-ffi --lib --profile mobile \
    --target "$triple" --crate-type staticlib)
done
lib() { echo "$target/$1/mobile/$name"; }

rm -rf "$build"
mkdir -p "$build/ios" "$build/ios-simulator" "$build/macos"
cp "$(lib aarch64-apple-ios)" "$build/ios/$name"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$build/ios-simulator/$name"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$build/macos/$name"

# The header and the module map, in a directory named after the module: Xcode copies every
# XCFramework's headers into one include directory, where two top-level module.modulemap files
# would collide.
headers="$build/headers/CibaAuthenticatorFFI"
mkdir -p "$headers"
cp "$repo/ios-sample/Generated/CibaAuthenticatorFFI.h" "$headers/"
cp "$repo/ios-sample/Generated/CibaAuthenticatorFFI.modulemap" "$headers/module.modulemap"

echo "== XCFramework"
xcodebuild -create-xcframework \
  -library "$build/ios/$name" -headers "$build/headers" \
  -library "$build/ios-simulator/$name" -headers "$build/headers" \
  -library "$build/macos/$name" -headers "$build/headers" \
  -output "$build/CibaAuthenticatorFFI.xcframework"

echo "== Swift package"
cp "$repo/ios-sample/Generated/CibaAuthenticator.swift" "$package/Sources/CibaAuthenticator/"
ls -l "$build"
echo "Swift package ready: $package (swift test runs its tests on this Mac)"
