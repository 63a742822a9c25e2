package org.openciba.sample.platform

import android.content.Intent
import org.openciba.sample.logic.EnrollLink

/**
 * The enrollment link an intent carries: a `ciba-enroll://` link opened from the camera app's QR
 * reader, a browser or another app (the manifest's VIEW filter), or text shared to the app.
 */
object LinkIntent {
    fun enrollLink(intent: Intent?): EnrollLink? {
        intent ?: return null
        return when (intent.action) {
            Intent.ACTION_VIEW -> EnrollLink.parse(intent.dataString)
            Intent.ACTION_SEND -> EnrollLink.parse(intent.getStringExtra(Intent.EXTRA_TEXT))
            else -> null
        }
    }
}
