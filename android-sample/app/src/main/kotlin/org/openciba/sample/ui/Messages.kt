package org.openciba.sample.ui

import androidx.annotation.StringRes
import org.openciba.sample.R
import org.openciba.sample.logic.Message

/** The string resource of each error message (logic/ErrorText.kt); the JVM check tests both locales have them. */
@StringRes
fun Message.res(): Int = when (this) {
    Message.ERROR_NETWORK -> R.string.error_network
    Message.ERROR_UNTRUSTED_SERVER -> R.string.error_untrusted_server
    Message.ERROR_SERVER -> R.string.error_server
    Message.ERROR_DEVICE_REVOKED -> R.string.error_device_revoked
    Message.ERROR_KEY_MISSING -> R.string.error_key_missing
    Message.ERROR_USER_CANCELLED -> R.string.error_user_cancelled
    Message.ERROR_AUTHENTICATION_REQUIRED -> R.string.error_authentication_required
    Message.ERROR_KEY_INVALIDATED -> R.string.error_key_invalidated
    Message.ERROR_EXPIRED -> R.string.error_expired
    Message.ERROR_ALREADY_DECIDED -> R.string.error_already_decided
    Message.ERROR_NOT_FOUND -> R.string.error_not_found
    Message.ERROR_UNKNOWN_ISSUER -> R.string.error_unknown_issuer
    Message.ERROR_INVALID_LINK -> R.string.error_invalid_link
    Message.ERROR_INSECURE_ISSUER -> R.string.error_insecure_issuer
    Message.ERROR_STORAGE -> R.string.error_storage
    Message.ERROR_KEY_STORE -> R.string.error_key_store
    Message.ERROR_PROTOCOL -> R.string.error_protocol
}
