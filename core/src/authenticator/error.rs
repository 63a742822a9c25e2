//! The SDK's errors: one public enum for the embedding app, and the two errors of the pluggable
//! stores. How each lower-level error becomes an [`AuthenticatorError`] is decided here.

use crate::jose::JoseError;
use crate::protocol::ProtocolError;

/// Everything that can go wrong in the authenticator SDK.
///
/// The variants are what an app needs to decide what to show: the server-side refusals that a
/// user can act on ([`DeviceRevoked`](Self::DeviceRevoked), [`Expired`](Self::Expired),
/// [`AlreadyDecided`](Self::AlreadyDecided), …) have their own variant; the rest carry a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticatorError {
    /// The server could not be reached, or the connection failed or timed out.
    #[error("network error: {0}")]
    Network(String),
    /// The server refused the call with an error this SDK has no dedicated variant for.
    #[error("server refused the request (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Server {
        /// The HTTP status.
        status: u16,
        /// The `error` code of the error body.
        error: String,
        /// The `error_description` of the error body, if any.
        description: Option<String>,
    },
    /// The server revoked this device; the account must be enrolled again.
    #[error("this device has been revoked by the server")]
    DeviceRevoked,
    /// The server does not know this device (it was deleted, or the server was reset).
    #[error("the server does not know this device")]
    UnknownDevice,
    /// The account's key is gone from the key store (app reinstalled, biometrics reset, …).
    #[error("the account's key is missing from the key store")]
    KeyMissing,
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
    #[error("no account is enrolled with issuer {0}")]
    UnknownIssuer(String),
    /// The caller passed something unusable (a malformed URI, push payload, id, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The issuer URL is not https (plain http is allowed only for loopback hosts).
    #[error("insecure issuer: {0}")]
    InsecureIssuer(String),
    /// The account store failed.
    #[error("account storage failed: {0}")]
    Storage(String),
    /// The key store failed.
    #[error("key store failed: {0}")]
    KeyStore(String),
    /// The server answered something that does not follow the device protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// Errors of an [`AccountStore`](super::AccountStore).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the storage failed.
    #[error("I/O: {0}")]
    Io(String),
    /// The stored data cannot be read back.
    #[error("corrupt account data: {0}")]
    Corrupt(String),
}

/// Errors of a [`KeyStore`](super::KeyStore).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// No key has this alias.
    #[error("no key with alias {0}")]
    NotFound(String),
    /// A key with this alias already exists.
    #[error("a key with alias {0} already exists")]
    AlreadyExists(String),
    /// The alias cannot be used (empty, too long, or with characters a store cannot hold).
    #[error("invalid key alias {0:?}")]
    InvalidAlias(String),
    /// The platform key store or the file system failed.
    #[error("{0}")]
    Backend(String),
}

impl From<StoreError> for AuthenticatorError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<KeyStoreError> for AuthenticatorError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::NotFound(_) => Self::KeyMissing,
            other => Self::KeyStore(other.to_string()),
        }
    }
}

impl From<JoseError> for AuthenticatorError {
    fn from(e: JoseError) -> Self {
        // Building a JWS only fails when the signer fails or a value cannot be serialised.
        Self::KeyStore(e.to_string())
    }
}

impl From<ProtocolError> for AuthenticatorError {
    fn from(e: ProtocolError) -> Self {
        Self::InvalidInput(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_say_what_happened() {
        let e = AuthenticatorError::Server {
            status: 400,
            error: "invalid_enrollment_code".into(),
            description: Some("the code was already used".into()),
        };
        assert_eq!(
            e.to_string(),
            "server refused the request (HTTP 400): invalid_enrollment_code: the code was already used"
        );
        let e: AuthenticatorError = KeyStoreError::NotFound("a".into()).into();
        assert_eq!(e, AuthenticatorError::KeyMissing);
    }
}
