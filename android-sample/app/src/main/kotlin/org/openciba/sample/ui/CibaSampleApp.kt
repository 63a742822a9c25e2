package org.openciba.sample.ui

import org.openciba.sample.R
import org.openciba.sample.platform.NotificationText
import org.openciba.sample.platform.SampleApp

/** The application: the platform layer's [SampleApp] with this app's texts, icon and activity. */
class CibaSampleApp : SampleApp() {
    override fun notificationText() = NotificationText(
        channelName = getString(R.string.notification_channel),
        channelDescription = getString(R.string.notification_channel_description),
        title = getString(R.string.notification_title),
        body = getString(R.string.notification_body),
        denyAction = getString(R.string.notification_deny),
    )

    override val notificationIcon: Int get() = R.drawable.ic_notification
    override val requestActivity: Class<*> get() = MainActivity::class.java
}
