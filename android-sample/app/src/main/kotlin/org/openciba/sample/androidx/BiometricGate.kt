package org.openciba.sample.androidx

import androidx.biometric.BiometricManager
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import kotlin.coroutines.resume
import kotlinx.coroutines.suspendCancellableCoroutine
import org.openciba.authenticator.Account
import org.openciba.authenticator.Authenticator
import org.openciba.authenticator.Transaction
import org.openciba.sample.logic.UserGate
import org.openciba.sample.platform.AndroidKeystoreKeyStore

/** The texts of the prompt (string resources, resolved by the screen). */
data class PromptText(val title: String, val subtitle: String, val cancel: String)

/**
 * The user's check before an approval: a `BiometricPrompt` (BIOMETRIC_STRONG) whose
 * `CryptoObject` is the approval key's `Signature`, so the key signs only after this prompt, and
 * only this once. The prompt shows the request's binding message, to compare with the other
 * screen. An account without an approval key (enrolled before, or on a phone without strong
 * biometrics) gets the prompt without a CryptoObject.
 */
class BiometricGate(
    private val activity: FragmentActivity,
    private val authenticator: Authenticator,
    private val keys: AndroidKeystoreKeyStore,
    private val text: (Transaction) -> PromptText,
) : UserGate {
    /** Whether this phone can show a strong biometric prompt at all. */
    fun available(): Boolean =
        BiometricManager.from(activity).canAuthenticate(BiometricManager.Authenticators.BIOMETRIC_STRONG) ==
            BiometricManager.BIOMETRIC_SUCCESS

    override suspend fun confirm(txn: Transaction): List<String>? {
        val account: Account? = authenticator.accounts().firstOrNull { it.id == txn.accountId }
        val alias = account?.approvalKeyAlias
        // Throws KeyStoreException.KeyInvalidated for a key a new fingerprint invalidated: the
        // flow turns it into the "link again" screen.
        val signature = alias?.let { keys.signatureFor(it) }
        val texts = text(txn)
        val info = BiometricPrompt.PromptInfo.Builder()
            .setTitle(texts.title)
            .setSubtitle(texts.subtitle)
            .setNegativeButtonText(texts.cancel)
            .setAllowedAuthenticators(BiometricManager.Authenticators.BIOMETRIC_STRONG)
            .setConfirmationRequired(true)
            .build()
        return suspendCancellableCoroutine { continuation ->
            val prompt = BiometricPrompt(
                activity,
                ContextCompat.getMainExecutor(activity),
                object : BiometricPrompt.AuthenticationCallback() {
                    override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                        val unlocked = result.cryptoObject?.signature
                        if (alias != null && unlocked == null) {
                            continuation.resume(null)
                            return
                        }
                        if (alias != null && unlocked != null) keys.arm(alias, unlocked)
                        // RFC 8176: a biometric test of the user; the server records it as claimed.
                        continuation.resume(listOf("user"))
                    }

                    override fun onAuthenticationError(errorCode: Int, errString: CharSequence) {
                        continuation.resume(null)
                    }
                },
            )
            if (signature != null) prompt.authenticate(info, BiometricPrompt.CryptoObject(signature))
            else prompt.authenticate(info)
            continuation.invokeOnCancellation { prompt.cancelAuthentication() }
        }
    }
}
