package org.openciba.sample.platform

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.util.Log
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.openciba.authenticator.AuthenticatorException
import org.openciba.sample.logic.RequestFlow

/**
 * The notification's Deny action: declines the request without opening the app (a denial needs
 * no biometric; the account key signs it). Never approves.
 */
class DenyReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action != ACTION_DENY) return
        val txnId = intent.getStringExtra(RequestNotifications.EXTRA_TXN_ID) ?: return
        val app = context.applicationContext as? SampleApp ?: return
        val result = goAsync()
        scope.launch {
            try {
                // A denial needs no user check: the flow's gate is never asked.
                val flow = RequestFlow(app.authenticator, gate = { null }, inbox = app.inbox)
                val txn = app.authenticator.findTransaction(txnId)
                flow.deny(txn, notMe = false)
            } catch (e: AuthenticatorException) {
                Log.w(TAG, "deny from the notification failed: ${e.message}")
            } finally {
                app.notifications.cancel(txnId)
                result.finish()
            }
        }
    }

    companion object {
        const val ACTION_DENY = "org.openciba.sample.DENY"
        private const val TAG = "CibaSample"
        private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    }
}
