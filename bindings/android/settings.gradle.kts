// The Android library (AAR) of the authenticator SDK. Built by bindings/scripts/build-android.sh,
// which first puts the native libraries and the generated Kotlin under build/ (see build.gradle.kts).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
        // rustls-platform-verifier's Kotlin component (its version is the one of the crate
        // rustls-platform-verifier-android in Cargo.lock; the build script passes it).
        maven { url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/") }
    }
}

rootProject.name = "ciba-authenticator"
