package org.openciba.authenticator

import android.content.Context

/**
 * Android set-up of the authenticator SDK. Call [init] once, in `Application.onCreate`, before
 * building an [Authenticator]: the SDK checks server certificates with Android's own trust
 * manager (rustls-platform-verifier), which needs the application context. Without it,
 * `Authenticator(...)` throws [AuthenticatorException.InvalidInput] while the platform's trust is on.
 */
object CibaAndroid {
    @Volatile
    private var initialised = false

    /** Hands the application context to the native library; later calls do nothing. */
    @JvmStatic
    @Synchronized
    fun init(context: Context) {
        if (initialised) return
        System.loadLibrary("ciba_authenticator_ffi")
        nativeInit(context.applicationContext)
        initialised = true
    }

    /** Implemented in bindings/src/android.rs. */
    @JvmStatic
    private external fun nativeInit(context: Context)
}
