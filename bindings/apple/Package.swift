// swift-tools-version:5.9
// The authenticator SDK for iOS as a Swift package: the uniffi-generated Swift over the static
// library in an XCFramework. Both are build outputs of bindings/scripts/build-ios.sh (the Swift
// is a copy of ios-sample/Generated/CibaAuthenticator.swift); run it before opening the package.
import PackageDescription

let package = Package(
    name: "CibaAuthenticator",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "CibaAuthenticator", targets: ["CibaAuthenticator"]),
    ],
    targets: [
        // The Rust library (static, profile `mobile`) and its C header and module map.
        .binaryTarget(name: "CibaAuthenticatorFFI", path: "build/CibaAuthenticatorFFI.xcframework"),
        .target(
            name: "CibaAuthenticator",
            dependencies: ["CibaAuthenticatorFFI"],
            path: "Sources/CibaAuthenticator",
            linkerSettings: [
                // Certificate checks go through the platform verifier (Security.framework).
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
        // Runs on the Mac (`swift test`) thanks to the macOS slice of the XCFramework.
        .testTarget(name: "CibaAuthenticatorTests", dependencies: ["CibaAuthenticator"]),
    ]
)
