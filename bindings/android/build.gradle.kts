// The AAR: the uniffi-generated Kotlin (build/generated/uniffi, android = true), CibaAndroid.kt
// (hand-written: hands the Context to rustls-platform-verifier), the native libraries per ABI
// (build/jniLibs/<abi>/libciba_authenticator_ffi.so, from cargo-ndk), and consumer R8 rules.
// Run through bindings/scripts/build-android.sh, not directly.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.2.21"
    `maven-publish`
}

val rustlsPlatformVerifierVersion: String = providers.gradleProperty("rustlsPlatformVerifierVersion").orNull
    ?: error("pass -PrustlsPlatformVerifierVersion=<version of rustls-platform-verifier-android in Cargo.lock>")
val sdkVersion: String = providers.gradleProperty("sdkVersion").orNull ?: "0.1.0"

group = "org.openciba"
version = sdkVersion

android {
    namespace = "org.openciba.authenticator"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        java.srcDir(layout.buildDirectory.dir("generated/uniffi"))
        jniLibs.srcDir(layout.buildDirectory.dir("jniLibs"))
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // cargo already stripped the libraries (profile `mobile`).
        jniLibs.keepDebugSymbols += "**/libciba_authenticator_ffi.so"
    }

    publishing {
        singleVariant("release")
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings call the library through JNA; the AAR flavour carries JNA's
    // native dispatch library for every ABI.
    api("net.java.dev.jna:jna:5.18.1@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    implementation("androidx.annotation:annotation:1.9.1")
    // Android's certificate verification, called from Rust through JNI (CibaAndroid.init).
    implementation("rustls:rustls-platform-verifier:$rustlsPlatformVerifierVersion")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            artifactId = "ciba-authenticator"
            afterEvaluate { from(components["release"]) }
        }
    }
}
