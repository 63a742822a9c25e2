package org.openciba.sample.logic

import org.openciba.authenticator.AccountState
import org.openciba.authenticator.Authenticator
import org.openciba.authenticator.AuthenticatorException
import org.openciba.authenticator.DecisionStatus
import org.openciba.authenticator.DenyReason
import org.openciba.authenticator.Transaction
import org.openciba.authenticator.TransactionStatus
import org.openciba.authenticator.consentText

/** The user's check before an approval is signed (the biometric prompt on a phone). */
fun interface UserGate {
    /**
     * Asks the user to confirm [txn] (the prompt shows its binding message). Returns the
     * authentication methods used, as RFC 8176 `amr` values the app claims (the server records
     * them as claimed; the token states only what it verified), or null when the user cancelled.
     */
    suspend fun confirm(txn: Transaction): List<String>?
}

/** What the request screen shows. */
sealed interface RequestState {
    /** The request, what it asks for, and the consent text an approval signs. */
    data class Showing(val txn: Transaction, val lines: ConsentLines, val consentText: String) : RequestState

    /** The decision the server recorded. */
    data class Decided(val txn: Transaction, val outcome: Outcome) : RequestState

    /** Something failed: what to say and what the user can do. */
    data class Failed(val txn: Transaction?, val error: ErrorText) : RequestState

    /** The account can no longer approve (revoked, or its key invalidated): link the phone again. */
    data class Relink(val accountId: String, val state: AccountState) : RequestState
}

/** How a request ended on this phone. */
enum class Outcome { APPROVED, DENIED, REPORTED_NOT_ME }

/**
 * The requests of every account, each once however it arrived (a push, `pending()` when the app
 * opens): in arrival order, by transaction id.
 */
class RequestInbox {
    private val byId = LinkedHashMap<String, Transaction>()

    /** Adds or refreshes [txn]; true when it was not there before. */
    @Synchronized
    fun put(txn: Transaction): Boolean = byId.put(txn.view.id, txn) == null

    /** Drops a request that is over (decided, expired, cancelled). */
    @Synchronized
    fun remove(txnId: String) {
        byId.remove(txnId)
    }

    /** The requests still pending, in arrival order. */
    @Synchronized
    fun pending(): List<Transaction> = byId.values.filter { it.view.status == TransactionStatus.PENDING }
}

/**
 * One request, from its arrival to the decision: the app's screens only render the states this
 * returns. Approval happens only here, after the consent screen and the user's check: never from
 * a notification or in the background.
 */
class RequestFlow(
    private val authenticator: Authenticator,
    private val gate: UserGate,
    val inbox: RequestInbox = RequestInbox(),
) {
    /** A wake-up push (the FCM data map): the request it names, fetched, or null for another message. */
    suspend fun onPush(data: Map<String, String>): Transaction? {
        val payload = FcmPayload.toSdkPayload(data) ?: return null
        val txn = authenticator.handlePush(payload)
        inbox.put(txn)
        return txn
    }

    /** Every pending request of every account (the app opened, or pushes are off). */
    suspend fun refresh(): List<Transaction> {
        for (txn in authenticator.pending()) inbox.put(txn)
        return inbox.pending()
    }

    /** The screen of [txn]: what it asks, or why it cannot be shown. */
    suspend fun open(txn: Transaction): RequestState = guarded(txn) {
        when (txn.view.status) {
            TransactionStatus.PENDING ->
                RequestState.Showing(txn, ConsentLines.of(txn), consentText(txn))
            TransactionStatus.EXPIRED -> failed(txn, ErrorText(Message.ERROR_EXPIRED, NextStep.DISMISS))
            else -> failed(txn, ErrorText(Message.ERROR_ALREADY_DECIDED, NextStep.DISMISS))
        }
    }

    /** The user tapped Approve on the consent screen: their check, then the signed approval. */
    suspend fun approve(txn: Transaction): RequestState = guarded(txn) {
        val amr = gate.confirm(txn)
            ?: return@guarded RequestState.Failed(txn, ErrorText(Message.ERROR_USER_CANCELLED, NextStep.RETRY))
        when (authenticator.approve(txn, amr)) {
            DecisionStatus.APPROVED -> decided(txn, Outcome.APPROVED)
            DecisionStatus.DENIED -> decided(txn, Outcome.DENIED)
        }
    }

    /** The user declined, or said the request is not theirs (the bank's fraud signal). */
    suspend fun deny(txn: Transaction, notMe: Boolean): RequestState = guarded(txn) {
        authenticator.deny(txn, if (notMe) DenyReason.NOT_RECOGNIZED else DenyReason.USER_DECLINED)
        decided(txn, if (notMe) Outcome.REPORTED_NOT_ME else Outcome.DENIED)
    }

    private fun decided(txn: Transaction, outcome: Outcome): RequestState {
        inbox.remove(txn.view.id)
        return RequestState.Decided(txn, outcome)
    }

    private fun failed(txn: Transaction, error: ErrorText): RequestState {
        inbox.remove(txn.view.id)
        return RequestState.Failed(txn, error)
    }

    private suspend fun guarded(txn: Transaction, body: suspend () -> RequestState): RequestState =
        try {
            body()
        } catch (e: AuthenticatorException) {
            val text = ErrorText.of(e)
            when (text.next) {
                // What the account became follows from the error itself: the server said the
                // device is revoked, or the phone's key is gone or invalidated.
                NextStep.RELINK -> RequestState.Relink(
                    txn.accountId,
                    if (e is AuthenticatorException.DeviceRevoked) AccountState.REVOKED else AccountState.NEEDS_REENROLLMENT,
                )
                NextStep.DISMISS -> failed(txn, text)
                NextStep.RETRY -> RequestState.Failed(txn, text)
            }
        }
}
