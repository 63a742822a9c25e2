package org.openciba.sample.platform

import android.app.Application
import android.content.Context
import org.openciba.authenticator.Authenticator
import org.openciba.authenticator.CibaAndroid
import org.openciba.authenticator.defaultAuthenticatorConfig
import org.openciba.sample.logic.PendingTokenStore
import org.openciba.sample.logic.PushTokenSync
import org.openciba.sample.logic.RequestInbox

/**
 * The app's one Authenticator, over the Keystore and the accounts file, and what the push
 * service, the notification's Deny action and the screens share. The texts and icon come from
 * the app's resources ([notificationText], [notificationIcon] and [requestActivity] are set by
 * the `ui` layer's subclass, which knows `R`).
 */
abstract class SampleApp : Application() {
    lateinit var authenticator: Authenticator
        private set
    lateinit var keys: AndroidKeystoreKeyStore
        private set
    val inbox = RequestInbox()
    lateinit var notifications: RequestNotifications
        private set
    lateinit var pushTokens: PushTokenSync
        private set

    abstract fun notificationText(): NotificationText
    abstract val notificationIcon: Int
    abstract val requestActivity: Class<*>

    override fun onCreate() {
        super.onCreate()
        // Before any Authenticator: the SDK verifies TLS with Android's trust manager.
        CibaAndroid.init(this)
        keys = AndroidKeystoreKeyStore(packageManager)
        authenticator = Authenticator(FileAccountStore(noBackupFilesDir), keys, defaultAuthenticatorConfig())
        notifications = RequestNotifications(this, notificationText(), requestActivity, notificationIcon)
        notifications.createChannel()
        pushTokens = PushTokenSync(authenticator, PrefsPendingToken(this))
    }
}

/** The pending push token in the app's no-backup preferences. */
class PrefsPendingToken(context: Context) : PendingTokenStore {
    private val prefs = context.getSharedPreferences("ciba_push", Context.MODE_PRIVATE)

    override fun load(): String? = prefs.getString(KEY, null)

    override fun save(token: String?) {
        prefs.edit().apply { if (token == null) remove(KEY) else putString(KEY, token) }.apply()
    }

    private companion object {
        const val KEY = "pending_fcm_token"
    }
}
