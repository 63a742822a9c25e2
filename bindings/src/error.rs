//! The errors the app sees, and the two errors its own implementations report. Every
//! conversion between these and the SDK's errors is here and nowhere else.
//!
//! An exception thrown by the app's [`KeyStore`](crate::KeyStore) or
//! [`AccountStore`](crate::AccountStore) that is not the declared error type arrives as a
//! [`uniffi::UnexpectedUniFFICallbackError`]; it becomes [`KeyStoreError::Backend`] /
//! [`StoreError::Io`] and from there an [`AuthenticatorError`], never a Rust panic.

use ciba_core::authenticator as sdk;
use uniffi::UnexpectedUniFFICallbackError;

/// Everything that can go wrong in the authenticator SDK (`AuthenticatorException` in Kotlin,
/// `AuthenticatorError` in Swift). The variants are what an app needs to decide what to show;
/// `core/README.md` has the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthenticatorError {
    /// The server could not be reached, or the connection failed or timed out. Retry later.
    #[error("network error: {details}")]
    Network {
        /// What failed, for logs.
        details: String,
    },
    /// The server's TLS certificate was refused: not trusted, or not matching the account's
    /// pinned keys. Possibly an interception; do not retry on this network.
    #[error("the server's certificate was refused: {details}")]
    UntrustedServer {
        /// Why, for logs.
        details: String,
    },
    /// The server refused the call with an error the SDK has no dedicated variant for.
    #[error("server refused the request (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Server {
        /// The HTTP status.
        status: u16,
        /// The `error` code of the error body (`invalid_enrollment_code`, …).
        error: String,
        /// The `error_description` of the error body, if any.
        description: Option<String>,
    },
    /// The bank revoked this device, or no longer knows it: the account must be enrolled again.
    #[error("this device has been revoked by the server")]
    DeviceRevoked,
    /// The account's key is gone or unusable (backup restored onto a new phone, biometrics
    /// re-enrolled, app data cleared): the account must be enrolled again.
    #[error("the account's key is missing from the key store")]
    KeyMissing,
    /// The user dismissed the biometric or passcode prompt of the key; nothing was sent.
    #[error("the user cancelled the verification")]
    UserCancelled,
    /// The key needs the user's biometric or device credential first (the key store threw
    /// `KeyStoreException.UserAuthenticationRequired`): show `BiometricPrompt`, then retry.
    #[error("the key needs the user to authenticate first")]
    UserAuthenticationRequired,
    /// The platform invalidated the key for good (new biometrics enrolled, passcode removed):
    /// link this phone again.
    #[error("the account's key was invalidated by the platform; enroll again")]
    KeyInvalidated,
    /// The transaction expired before it was decided.
    #[error("the transaction has expired")]
    Expired,
    /// The transaction was already decided (possibly on another device).
    #[error("the transaction was already decided")]
    AlreadyDecided,
    /// No such transaction (or account) was found.
    #[error("not found")]
    NotFound,
    /// A push payload arrived from an issuer that no account is enrolled with.
    #[error("no account is enrolled with issuer {issuer}")]
    UnknownIssuer {
        /// The issuer the push named.
        issuer: String,
    },
    /// The app passed something unusable (a malformed URI, push payload, id, pin, …), or one of
    /// its callbacks broke the FFI contract.
    #[error("invalid input: {details}")]
    InvalidInput {
        /// What was wrong.
        details: String,
    },
    /// The issuer URL is not https (plain http is allowed only for loopback hosts).
    #[error("insecure issuer: {issuer}")]
    InsecureIssuer {
        /// The refused issuer.
        issuer: String,
    },
    /// The app's `AccountStore` failed.
    #[error("account storage failed: {details}")]
    Storage {
        /// The store's error.
        details: String,
    },
    /// The app's `KeyStore` failed (other than a missing key or a
    /// cancelled prompt, which have their own variants).
    #[error("key store failed: {details}")]
    KeyStore {
        /// The key store's error.
        details: String,
    },
    /// The server answered something that does not follow the device protocol.
    #[error("protocol violation: {details}")]
    Protocol {
        /// What was wrong, for logs.
        details: String,
    },
}

impl From<sdk::AuthenticatorError> for AuthenticatorError {
    fn from(e: sdk::AuthenticatorError) -> Self {
        use sdk::AuthenticatorError as E;
        match e {
            E::Network(details) => Self::Network { details },
            E::UntrustedServer(details) => Self::UntrustedServer { details },
            E::Server {
                status,
                error,
                description,
            } => Self::Server {
                status,
                error,
                description,
            },
            E::DeviceRevoked => Self::DeviceRevoked,
            E::KeyMissing => Self::KeyMissing,
            E::UserCancelled => Self::UserCancelled,
            E::UserAuthenticationRequired => Self::UserAuthenticationRequired,
            E::KeyInvalidated => Self::KeyInvalidated,
            E::Expired => Self::Expired,
            E::AlreadyDecided => Self::AlreadyDecided,
            E::NotFound => Self::NotFound,
            E::UnknownIssuer(issuer) => Self::UnknownIssuer { issuer },
            E::InvalidInput(details) => Self::InvalidInput { details },
            E::InsecureIssuer(issuer) => Self::InsecureIssuer { issuer },
            E::Storage(details) => Self::Storage { details },
            E::KeyStore(details) => Self::KeyStore { details },
            E::Protocol(details) => Self::Protocol { details },
        }
    }
}

/// No callback of the app returns an [`AuthenticatorError`] today; should one, a foreign
/// exception of another type is the app breaking the contract, reported like bad input.
impl From<UnexpectedUniFFICallbackError> for AuthenticatorError {
    fn from(e: UnexpectedUniFFICallbackError) -> Self {
        Self::InvalidInput {
            details: format!("the app's callback failed: {}", e.reason),
        }
    }
}

/// What the app's `KeyStore` reports (`KeyStoreException` in Kotlin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyStoreError {
    /// No key has this alias.
    #[error("no key with alias {alias}")]
    NotFound {
        /// The alias asked for.
        alias: String,
    },
    /// A key with this alias already exists.
    #[error("a key with alias {alias} already exists")]
    AlreadyExists {
        /// The alias asked for.
        alias: String,
    },
    /// The alias cannot be used by this store.
    #[error("invalid key alias {alias:?}")]
    InvalidAlias {
        /// The alias asked for.
        alias: String,
    },
    /// The key exists but the platform invalidated it for good (biometrics re-enrolled, device
    /// passcode removed, restored from a backup): the account needs re-enrollment.
    #[error("the key with alias {alias} was invalidated by the platform")]
    KeyInvalidated {
        /// The alias asked for.
        alias: String,
    },
    /// The user dismissed the biometric or passcode prompt.
    #[error("the user cancelled the verification")]
    UserCancelled,
    /// The key requires user authentication that has not happened (Android
    /// `UserNotAuthenticatedException`): the app shows `BiometricPrompt` and retries.
    #[error("the key with alias {alias} needs the user to authenticate first")]
    UserAuthenticationRequired {
        /// The alias asked for.
        alias: String,
    },
    /// The platform key store failed. Any other exception the key store throws arrives here.
    #[error("{details}")]
    Backend {
        /// What failed.
        details: String,
    },
}

impl From<UnexpectedUniFFICallbackError> for KeyStoreError {
    fn from(e: UnexpectedUniFFICallbackError) -> Self {
        Self::Backend { details: e.reason }
    }
}

impl From<KeyStoreError> for sdk::KeyStoreError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::NotFound { alias } => Self::NotFound(alias),
            KeyStoreError::AlreadyExists { alias } => Self::AlreadyExists(alias),
            KeyStoreError::InvalidAlias { alias } => Self::InvalidAlias(alias),
            KeyStoreError::KeyInvalidated { alias } => Self::KeyInvalidated(alias),
            KeyStoreError::UserCancelled => Self::UserCancelled,
            KeyStoreError::UserAuthenticationRequired { alias } => {
                Self::UserAuthenticationRequired(alias)
            }
            KeyStoreError::Backend { details } => Self::Backend(details),
        }
    }
}

/// What the app's `AccountStore` reports (`StoreException` in Kotlin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StoreError {
    /// Reading or writing the storage failed. Any other exception the store throws arrives
    /// here.
    #[error("I/O: {details}")]
    Io {
        /// What failed.
        details: String,
    },
    /// The stored data cannot be read back.
    #[error("corrupt account data: {details}")]
    Corrupt {
        /// What is wrong with it.
        details: String,
    },
}

impl From<UnexpectedUniFFICallbackError> for StoreError {
    fn from(e: UnexpectedUniFFICallbackError) -> Self {
        Self::Io { details: e.reason }
    }
}

impl From<StoreError> for sdk::StoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Io { details } => Self::Io(details),
            StoreError::Corrupt { details } => Self::Corrupt(details),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_error_keeps_its_variant_and_message() {
        let cases = [
            sdk::AuthenticatorError::Network("reset".into()),
            sdk::AuthenticatorError::UntrustedServer("pin".into()),
            sdk::AuthenticatorError::DeviceRevoked,
            sdk::AuthenticatorError::KeyMissing,
            sdk::AuthenticatorError::UserCancelled,
            sdk::AuthenticatorError::UserAuthenticationRequired,
            sdk::AuthenticatorError::KeyInvalidated,
            sdk::AuthenticatorError::Expired,
            sdk::AuthenticatorError::AlreadyDecided,
            sdk::AuthenticatorError::NotFound,
            sdk::AuthenticatorError::UnknownIssuer("https://a".into()),
            sdk::AuthenticatorError::InvalidInput("x".into()),
            sdk::AuthenticatorError::InsecureIssuer("http://a".into()),
            sdk::AuthenticatorError::Storage("disk".into()),
            sdk::AuthenticatorError::KeyStore("hsm".into()),
            sdk::AuthenticatorError::Protocol("json".into()),
        ];
        for e in cases {
            assert_eq!(
                AuthenticatorError::from(e.clone()).to_string(),
                e.to_string()
            );
        }
        let server = AuthenticatorError::from(sdk::AuthenticatorError::Server {
            status: 400,
            error: "invalid_enrollment_code".into(),
            description: Some("used".into()),
        });
        assert_eq!(
            server,
            AuthenticatorError::Server {
                status: 400,
                error: "invalid_enrollment_code".into(),
                description: Some("used".into()),
            }
        );
    }

    #[test]
    fn unexpected_foreign_exceptions_become_errors() {
        let e = KeyStoreError::from(UnexpectedUniFFICallbackError::new("IllegalStateException"));
        assert_eq!(
            sdk::KeyStoreError::from(e),
            sdk::KeyStoreError::Backend("IllegalStateException".into())
        );
        let e = StoreError::from(UnexpectedUniFFICallbackError::new("SQLiteException"));
        assert_eq!(
            sdk::StoreError::from(e),
            sdk::StoreError::Io("SQLiteException".into())
        );
        assert!(matches!(
            AuthenticatorError::from(UnexpectedUniFFICallbackError::new("boom")),
            AuthenticatorError::InvalidInput { .. }
        ));
    }

    #[test]
    fn typed_key_store_errors_reach_the_app_typed() {
        let through = |e: KeyStoreError| {
            AuthenticatorError::from(sdk::AuthenticatorError::from(sdk::KeyStoreError::from(e)))
        };
        assert_eq!(
            through(KeyStoreError::UserCancelled),
            AuthenticatorError::UserCancelled
        );
        assert_eq!(
            through(KeyStoreError::KeyInvalidated { alias: "a".into() }),
            AuthenticatorError::KeyInvalidated
        );
        assert_eq!(
            through(KeyStoreError::UserAuthenticationRequired { alias: "a".into() }),
            AuthenticatorError::UserAuthenticationRequired
        );
        assert_eq!(
            through(KeyStoreError::Backend {
                details: "StrongBox unavailable".into()
            }),
            AuthenticatorError::KeyStore {
                details: "StrongBox unavailable".into()
            }
        );
    }
}
