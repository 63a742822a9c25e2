package org.openciba.sample.firebase

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import kotlinx.coroutines.runBlocking
import org.openciba.sample.logic.RequestFlow
import org.openciba.sample.platform.SampleApp

/** FCM's entry points; everything else is in logic/ (RequestFlow, PushTokenSync). */
class FcmService : FirebaseMessagingService() {
    private val app get() = application as SampleApp

    override fun onMessageReceived(message: RemoteMessage) {
        // onMessageReceived runs on a background thread with ~10 s to finish: fetch the request
        // (no prompt: the account key signs the fetch) and show the generic notification.
        val txn = runCatching {
            runBlocking { RequestFlow(app.authenticator, gate = { null }, inbox = app.inbox).onPush(message.data) }
        }.getOrNull() ?: return
        app.notifications.show(txn, System.currentTimeMillis())
    }

    /** The app's registration token, new or rotated (`onNewToken` is deprecated in 26.x for this). */
    override fun onRegistered(token: String) {
        runBlocking { runCatching { app.pushTokens.onNewToken(token) } }
    }
}
