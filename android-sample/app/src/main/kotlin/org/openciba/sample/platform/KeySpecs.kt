package org.openciba.sample.platform

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.spec.ECGenParameterSpec
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.UserVerification

/**
 * The Android Keystore key of an account, from the SDK's [KeyOptions]: P-256, signing with
 * SHA-256 only, in StrongBox when asked and present.
 * - `NONE`: no user authentication (the account key signs DPoP proofs and denials, so a push
 *   handler can fetch a request without a prompt);
 * - `USER_PRESENCE`: the device unlocked within the last 30 seconds (biometric or credential);
 * - `BIOMETRIC`: a strong biometric for every use (through a `CryptoObject`), and the key is
 *   invalidated when a new biometric is enrolled (the approval key).
 */
object KeySpecs {
    /** Seconds an unlock authorises a `USER_PRESENCE` key. */
    const val PRESENCE_VALIDITY_SECONDS = 30

    fun spec(
        alias: String,
        options: KeyOptions,
        strongBox: Boolean,
        attestationChallenge: ByteArray? = null,
    ): KeyGenParameterSpec {
        val builder = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
            .setIsStrongBoxBacked(strongBox)
        when (options.userVerification) {
            UserVerification.NONE -> builder.setUserAuthenticationRequired(false)
            UserVerification.USER_PRESENCE -> builder
                .setUserAuthenticationRequired(true)
                .setUserAuthenticationParameters(
                    PRESENCE_VALIDITY_SECONDS,
                    KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
                )
            UserVerification.BIOMETRIC -> builder
                .setUserAuthenticationRequired(true)
                .setUserAuthenticationParameters(0, KeyProperties.AUTH_BIOMETRIC_STRONG)
                .setInvalidatedByBiometricEnrollment(true)
        }
        if (attestationChallenge != null) builder.setAttestationChallenge(attestationChallenge)
        return builder.build()
    }
}
