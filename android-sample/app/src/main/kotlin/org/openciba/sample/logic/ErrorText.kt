package org.openciba.sample.logic

import org.openciba.authenticator.AuthenticatorException

/** What the user can do after an error. */
enum class NextStep {
    /** Try again (the network, the server, a dismissed prompt). */
    RETRY,
    /** Link this phone again: the account's key or device is gone. */
    RELINK,
    /** Nothing to do: the request is over. */
    DISMISS,
}

/**
 * A message for the user. Each value is a string resource of the same name in lower case
 * (`res/values/strings.xml`, `res/values-fr/strings.xml`); the text never includes the
 * exception's details, which go to the log.
 */
enum class Message {
    ERROR_NETWORK,
    ERROR_UNTRUSTED_SERVER,
    ERROR_SERVER,
    ERROR_DEVICE_REVOKED,
    ERROR_KEY_MISSING,
    ERROR_USER_CANCELLED,
    ERROR_AUTHENTICATION_REQUIRED,
    ERROR_KEY_INVALIDATED,
    ERROR_EXPIRED,
    ERROR_ALREADY_DECIDED,
    ERROR_NOT_FOUND,
    ERROR_UNKNOWN_ISSUER,
    ERROR_INVALID_LINK,
    ERROR_INSECURE_ISSUER,
    ERROR_STORAGE,
    ERROR_KEY_STORE,
    ERROR_PROTOCOL,
}

/** The text and the next step of one error. */
data class ErrorText(val message: Message, val next: NextStep) {
    companion object {
        /** Every `AuthenticatorException` the SDK throws has its text (no `else`). */
        fun of(error: AuthenticatorException): ErrorText = when (error) {
            is AuthenticatorException.Network -> ErrorText(Message.ERROR_NETWORK, NextStep.RETRY)
            is AuthenticatorException.UntrustedServer ->
                ErrorText(Message.ERROR_UNTRUSTED_SERVER, NextStep.DISMISS)
            is AuthenticatorException.Server -> ErrorText(
                Message.ERROR_SERVER,
                if (error.status.toInt() >= 500) NextStep.RETRY else NextStep.DISMISS,
            )
            is AuthenticatorException.DeviceRevoked ->
                ErrorText(Message.ERROR_DEVICE_REVOKED, NextStep.RELINK)
            is AuthenticatorException.KeyMissing -> ErrorText(Message.ERROR_KEY_MISSING, NextStep.RELINK)
            is AuthenticatorException.UserCancelled ->
                ErrorText(Message.ERROR_USER_CANCELLED, NextStep.RETRY)
            is AuthenticatorException.UserAuthenticationRequired ->
                ErrorText(Message.ERROR_AUTHENTICATION_REQUIRED, NextStep.RETRY)
            is AuthenticatorException.KeyInvalidated ->
                ErrorText(Message.ERROR_KEY_INVALIDATED, NextStep.RELINK)
            is AuthenticatorException.Expired -> ErrorText(Message.ERROR_EXPIRED, NextStep.DISMISS)
            is AuthenticatorException.AlreadyDecided ->
                ErrorText(Message.ERROR_ALREADY_DECIDED, NextStep.DISMISS)
            is AuthenticatorException.NotFound -> ErrorText(Message.ERROR_NOT_FOUND, NextStep.DISMISS)
            is AuthenticatorException.UnknownIssuer ->
                ErrorText(Message.ERROR_UNKNOWN_ISSUER, NextStep.DISMISS)
            is AuthenticatorException.InvalidInput ->
                ErrorText(Message.ERROR_INVALID_LINK, NextStep.DISMISS)
            is AuthenticatorException.InsecureIssuer ->
                ErrorText(Message.ERROR_INSECURE_ISSUER, NextStep.DISMISS)
            is AuthenticatorException.Storage -> ErrorText(Message.ERROR_STORAGE, NextStep.RETRY)
            is AuthenticatorException.KeyStore -> ErrorText(Message.ERROR_KEY_STORE, NextStep.RETRY)
            is AuthenticatorException.Protocol -> ErrorText(Message.ERROR_PROTOCOL, NextStep.DISMISS)
        }
    }
}
