package org.openciba.sample.platform

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import org.openciba.authenticator.Transaction

/** The texts of the notification (string resources, resolved by the app). */
data class NotificationText(
    val channelName: String,
    val channelDescription: String,
    /** Generic: no client, amount or binding message on the lock screen. */
    val title: String,
    val body: String,
    val denyAction: String,
)

/**
 * The notification of a new request: a channel of its own, generic text (the details are shown
 * only in the app, after unlocking), private on the lock screen, gone when the request expires.
 * Tapping it opens the request screen; its one action is Deny. There is no Approve action:
 * approval happens only in the app, after the consent screen.
 */
class RequestNotifications(
    private val context: Context,
    private val text: NotificationText,
    /** The activity that shows a request (the app's main activity). */
    private val requestActivity: Class<*>,
    private val smallIcon: Int,
) {
    private val manager: NotificationManager =
        checkNotNull(context.getSystemService(NotificationManager::class.java)) { "no NotificationManager" }

    /** Creates (or updates) the channel; call at start. */
    fun createChannel() {
        val channel = NotificationChannel(CHANNEL_ID, text.channelName, NotificationManager.IMPORTANCE_HIGH).apply {
            description = text.channelDescription
            lockscreenVisibility = Notification.VISIBILITY_PRIVATE
            enableVibration(true)
        }
        manager.createNotificationChannel(channel)
    }

    /** Whether the user lets the app notify (Android 13+ asks at run time); when not, the app polls on open. */
    fun enabled(): Boolean = manager.areNotificationsEnabled()

    /** Shows [txn]'s notification; [nowMillis] is the clock's time, to time it out at the request's expiry. */
    fun show(txn: Transaction, nowMillis: Long) {
        val id = notificationId(txn.view.id)
        val open = PendingIntent.getActivity(
            context,
            id,
            Intent(context, requestActivity)
                .setAction(ACTION_OPEN_REQUEST)
                .putExtra(EXTRA_TXN_ID, txn.view.id)
                .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val deny = PendingIntent.getBroadcast(
            context,
            id,
            Intent(context, DenyReceiver::class.java)
                .setAction(DenyReceiver.ACTION_DENY)
                .putExtra(EXTRA_TXN_ID, txn.view.id),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val publicVersion = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(smallIcon)
            .setContentTitle(text.title)
            .build()
        val notification = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(smallIcon)
            .setContentTitle(text.title)
            .setContentText(text.body)
            .setCategory(Notification.CATEGORY_MESSAGE)
            .setVisibility(Notification.VISIBILITY_PRIVATE)
            .setPublicVersion(publicVersion)
            .setContentIntent(open)
            .setAutoCancel(true)
            .setTimeoutAfter((txn.view.expiresAt * 1000 - nowMillis).coerceAtLeast(1))
            .addAction(Notification.Action.Builder(null, text.denyAction, deny).build())
            .build()
        manager.notify(TAG, id, notification)
    }

    /** Removes [txnId]'s notification (decided, expired, or seen in the app). */
    fun cancel(txnId: String) = manager.cancel(TAG, notificationId(txnId))

    companion object {
        const val CHANNEL_ID = "ciba_requests"
        const val TAG = "ciba_request"
        const val ACTION_OPEN_REQUEST = "org.openciba.sample.OPEN_REQUEST"
        const val EXTRA_TXN_ID = "org.openciba.sample.TXN_ID"

        fun notificationId(txnId: String): Int = txnId.hashCode()
    }
}
