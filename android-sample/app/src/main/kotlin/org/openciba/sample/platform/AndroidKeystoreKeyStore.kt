package org.openciba.sample.platform

import android.content.pm.PackageManager
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.Signature
import java.security.cert.Certificate
import java.util.concurrent.ConcurrentHashMap
import org.openciba.authenticator.KeyAttestation
import org.openciba.authenticator.KeyOptions
import org.openciba.authenticator.KeySignature
import org.openciba.authenticator.KeyStore
import org.openciba.authenticator.KeyStoreException

/**
 * The SDK's [KeyStore] over the Android Keystore: keys never leave the secure hardware
 * (StrongBox when the options ask for it and the phone has it, the TEE otherwise).
 *
 * A key bound to biometrics signs only through a `Signature` the user unlocked with a
 * `BiometricPrompt` `CryptoObject`: [signatureFor] gives the app that object, the prompt unlocks
 * it, [arm] hands it back, and the SDK's next `sign` for that alias uses it, once.
 */
class AndroidKeystoreKeyStore(private val hasStrongBox: Boolean) : KeyStore {
    constructor(packageManager: PackageManager) :
        this(packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE))

    private val armed = ConcurrentHashMap<String, Signature>()

    private fun keystore(): java.security.KeyStore =
        java.security.KeyStore.getInstance(PROVIDER).apply { load(null) }

    override fun createKey(alias: String, options: KeyOptions): ByteArray = generate(alias, options, null)

    override fun createEnrollmentKey(alias: String, options: KeyOptions, attestationChallenge: ByteArray): ByteArray =
        generate(alias, options, attestationChallenge)

    private fun generate(alias: String, options: KeyOptions, challenge: ByteArray?): ByteArray = mapped(alias) {
        if (keystore().containsAlias(alias)) throw KeyStoreException.AlreadyExists(alias)
        val strongBox = options.preferSecureHardware && hasStrongBox
        val pair = try {
            generator(KeySpecs.spec(alias, options, strongBox, challenge)).generateKeyPair()
        } catch (e: StrongBoxUnavailableException) {
            // Announced but not usable (busy, or the spec is beyond it): the TEE instead.
            generator(KeySpecs.spec(alias, options, false, challenge)).generateKeyPair()
        }
        pair.public.encoded
    }

    private fun generator(spec: android.security.keystore.KeyGenParameterSpec): KeyPairGenerator =
        KeyPairGenerator.getInstance("EC", PROVIDER).apply { initialize(spec) }

    override fun publicKey(alias: String): ByteArray = mapped(alias) {
        certificate(alias).publicKey.encoded
    }

    override fun sign(alias: String, data: ByteArray): KeySignature = mapped(alias) {
        val signature = armed.remove(alias) ?: signatureFor(alias)
        signature.update(data)
        KeySignature.Der(signature.sign())
    }

    /**
     * An initialised `SHA256withECDSA` for [alias], to wrap in a `BiometricPrompt.CryptoObject`.
     * Throws `KeyStoreException.KeyInvalidated` when a new biometric enrollment invalidated the key.
     */
    fun signatureFor(alias: String): Signature = mapped(alias) {
        val key = keystore().getKey(alias, null) as? PrivateKey ?: throw KeyStoreException.NotFound(alias)
        Signature.getInstance("SHA256withECDSA").apply { initSign(key) }
    }

    /** The user unlocked [signature] (the prompt's `CryptoObject`): the next sign for [alias] uses it. */
    fun arm(alias: String, signature: Signature) {
        armed[alias] = signature
    }

    override fun deleteKey(alias: String) {
        armed.remove(alias)
        mapped(alias) { keystore().deleteEntry(alias) }
    }

    /**
     * Whether the key exists and can still sign: a key a new biometric enrollment invalidated is
     * still listed by the Keystore but fails `initSign`, and the SDK then reports the account as
     * needing re-enrollment ("link this phone again").
     */
    override fun hasKey(alias: String): Boolean = mapped(alias) {
        if (!keystore().containsAlias(alias)) return@mapped false
        try {
            signatureFor(alias)
            true
        } catch (e: KeyStoreException.KeyInvalidated) {
            false
        }
    }

    /** The Keystore's certificate chain of the key (leaf first), made with the enrollment's challenge. */
    override fun keyAttestation(alias: String, clientDataHash: ByteArray): KeyAttestation? = mapped(alias) {
        attestationOf(keystore().getCertificateChain(alias))
    }

    private fun certificate(alias: String): Certificate =
        keystore().getCertificate(alias) ?: throw KeyStoreException.NotFound(alias)

    companion object {
        const val PROVIDER = "AndroidKeyStore"

        /**
         * The attestation the server reads from a Keystore certificate chain (leaf first, each
         * certificate's DER); none for a key without a chain (a key made before attestation).
         */
        fun attestationOf(chain: Array<out Certificate>?): KeyAttestation? =
            if (chain.isNullOrEmpty()) null else KeyAttestation.AndroidKeyChain(chain.map { it.encoded })

        /** The Keystore's exceptions as the SDK's typed errors (KeyStoreException). */
        fun <T> mapped(alias: String, body: () -> T): T = try {
            body()
        } catch (e: KeyStoreException) {
            throw e
        } catch (e: Exception) {
            throw map(alias, e)
        }

        fun map(alias: String, e: Throwable): KeyStoreException {
            var cause: Throwable? = e
            while (cause != null) {
                when (cause) {
                    is KeyPermanentlyInvalidatedException -> return KeyStoreException.KeyInvalidated(alias)
                    is UserNotAuthenticatedException -> return KeyStoreException.UserAuthenticationRequired(alias)
                }
                cause = cause.cause
            }
            return KeyStoreException.Backend("${e.javaClass.simpleName}: ${e.message}")
        }
    }
}
