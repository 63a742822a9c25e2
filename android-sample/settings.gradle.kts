// The Android sample app (android-sample/README.md). Built with Android Studio or the Gradle
// wrapper on a machine with the Android SDK; not built on this project's CI machine (no Android
// Gradle Plugin there), where jvm-check/ compiles and tests everything but ui/.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        // The SDK AAR: bindings/scripts/build-android.sh --publish puts it in ~/.m2.
        mavenLocal()
        google()
        mavenCentral()
    }
}

rootProject.name = "ciba-android-sample"
include(":app")
