package org.openciba.sample.logic

import org.openciba.authenticator.Authenticator
import org.openciba.authenticator.AuthenticatorException
import org.openciba.authenticator.PushEnvironment
import org.openciba.authenticator.PushProvider
import org.openciba.authenticator.PushRegistration

/** Where the sample keeps a push token not yet registered everywhere (survives a restart). */
interface PendingTokenStore {
    fun load(): String?
    fun save(token: String?)
}

/** The outcome of one registration round. */
data class SyncResult(
    /** The accounts that now have the token. */
    val updated: List<String>,
    /** The accounts that failed, and why. */
    val failed: Map<String, AuthenticatorException>,
    /** Whether a later retry can help (a network or server failure); revoked accounts cannot. */
    val retryLater: Boolean,
)

/**
 * FCM rotates the app's registration token (`onNewToken`): every account must learn it, or its
 * wake-ups go nowhere. A failure for some accounts keeps the token pending, and [retry] (at the
 * next start, or from a WorkManager job in a production app) tries again.
 */
class PushTokenSync(private val authenticator: Authenticator, private val pending: PendingTokenStore) {
    suspend fun onNewToken(token: String): SyncResult {
        pending.save(token)
        return register(token)
    }

    /** Registers a token left pending by a failed round; null when none is pending. */
    suspend fun retry(): SyncResult? = pending.load()?.let { register(it) }

    private suspend fun register(token: String): SyncResult {
        val push = PushRegistration(provider = PushProvider.FCM, token = token, environment = PushEnvironment.PRODUCTION)
        val updates = authenticator.updatePushToken(push)
        val failed = updates.mapNotNull { u -> u.error?.let { u.accountId to it } }.toMap()
        val retryLater = failed.values.any { ErrorText.of(it).next == NextStep.RETRY }
        if (!retryLater) pending.save(null)
        return SyncResult(updates.filter { it.error == null }.map { it.accountId }, failed, retryLater)
    }
}
