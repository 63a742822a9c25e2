//! The SDK's errors: one public enum for the embedding app, and the two errors of the pluggable
//! stores. How every lower-level error — a store's, a key store's, a JOSE or protocol error, an
//! HTTP answer, a transport failure — becomes an [`AuthenticatorError`] is decided here and
//! nowhere else.

use reqwest::StatusCode;

use super::KeyStoreSigner;
use crate::jose::JoseError;
use crate::protocol::{ErrorBody, ProtocolError, error_codes};

/// Everything that can go wrong in the authenticator SDK.
///
/// The variants are what an app needs to decide what to show: the refusals a user can act on
/// ([`DeviceRevoked`](Self::DeviceRevoked), [`KeyMissing`](Self::KeyMissing),
/// [`Expired`](Self::Expired), [`AlreadyDecided`](Self::AlreadyDecided), …) have their own
/// variant; the rest carry a message for logs and support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticatorError {
    /// The server could not be reached, or the connection failed or timed out. Retry later.
    #[error("network error: {0}")]
    Network(String),
    /// The server's TLS certificate was refused: not trusted, or not matching the account's
    /// pinned keys. Possibly an interception; do not retry on this network.
    #[error("the server's certificate was refused: {0}")]
    UntrustedServer(String),
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
    /// The bank revoked this device, or no longer knows it (`device_revoked` / `unknown_device`):
    /// the account must be enrolled again.
    #[error("this device has been revoked by the server")]
    DeviceRevoked,
    /// The account's key is gone or unusable (backup restored onto a new phone, biometrics
    /// re-enrolled, app data cleared): the account must be enrolled again.
    #[error("the account's key is missing from the key store")]
    KeyMissing,
    /// The user dismissed the biometric or passcode prompt of the key; nothing was sent.
    #[error("the user cancelled the verification")]
    UserCancelled,
    /// The key needs the user's biometric or device credential before it signs (Android
    /// `UserNotAuthenticatedException`): authenticate the user (Android `BiometricPrompt`), then
    /// retry; nothing was sent.
    #[error("the key needs the user to authenticate first")]
    UserAuthenticationRequired,
    /// The platform invalidated the key for good (new biometrics enrolled, passcode removed:
    /// Android `KeyPermanentlyInvalidatedException`, iOS `.biometryCurrentSet`): link this phone
    /// again.
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
    #[error("no account is enrolled with issuer {0}")]
    UnknownIssuer(String),
    /// The caller passed something unusable (a malformed URI, push payload, id, pin, …).
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
    /// The key exists but the platform invalidated it for good (biometrics re-enrolled, device
    /// passcode removed, restored from a backup).
    #[error("the key with alias {0} was invalidated by the platform")]
    KeyInvalidated(String),
    /// The user dismissed the biometric or passcode prompt.
    #[error("the user cancelled the verification")]
    UserCancelled,
    /// The key requires user authentication that has not happened (Android
    /// `UserNotAuthenticatedException`).
    #[error("the key with alias {0} needs the user to authenticate first")]
    UserAuthenticationRequired(String),
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
            KeyStoreError::KeyInvalidated(_) => Self::KeyInvalidated,
            KeyStoreError::UserCancelled => Self::UserCancelled,
            KeyStoreError::UserAuthenticationRequired(_) => Self::UserAuthenticationRequired,
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

/// A failed JWS signature by `signer`: the key store's own typed error when there is one (key
/// gone, user cancelled), the JOSE error otherwise.
pub(crate) fn signing_error(signer: &KeyStoreSigner, e: JoseError) -> AuthenticatorError {
    match signer.take_error() {
        Some(key_error) => key_error.into(),
        None => e.into(),
    }
}

/// A non-2xx answer of the device API.
pub(crate) fn from_answer(status: StatusCode, body: &[u8]) -> AuthenticatorError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().map(|b| b.error.as_str());
    match (status, code) {
        // Both mean "this key no longer stands for an enrolled device": the app's answer is the
        // same (enroll again), so the SDK reports one thing.
        (
            StatusCode::UNAUTHORIZED,
            Some(error_codes::UNKNOWN_DEVICE | error_codes::DEVICE_REVOKED),
        ) => AuthenticatorError::DeviceRevoked,
        (StatusCode::NOT_FOUND, _) => AuthenticatorError::NotFound,
        (StatusCode::CONFLICT, Some(error_codes::ALREADY_DECIDED)) => {
            AuthenticatorError::AlreadyDecided
        }
        (StatusCode::GONE, Some(error_codes::EXPIRED)) => AuthenticatorError::Expired,
        (_, _) => match parsed {
            Some(b) => AuthenticatorError::Server {
                status: status.as_u16(),
                error: b.error,
                description: b.error_description,
            },
            // Not the protocol's error shape: a proxy's HTML page, an empty 502, a redirect.
            None => AuthenticatorError::Server {
                status: status.as_u16(),
                error: "unexpected_response".into(),
                description: Some(body_excerpt(body)),
            },
        },
    }
}

/// A short, single-line, printable excerpt of a body for error messages.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if excerpt.trim().is_empty() {
        excerpt = "the answer had no error body".into();
    }
    excerpt
}

/// A transport failure: a refused certificate is [`AuthenticatorError::UntrustedServer`],
/// anything else [`AuthenticatorError::Network`]. reqwest's top-level message is terse ("error
/// sending request"); the cause chain says why.
pub(crate) fn from_transport(e: &reqwest::Error) -> AuthenticatorError {
    let mut message = e.to_string();
    let mut untrusted = false;
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        if matches!(
            tls_error_in(cause),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            untrusted = true;
        }
        source = cause.source();
    }
    if untrusted {
        AuthenticatorError::UntrustedServer(message)
    } else {
        AuthenticatorError::Network(message)
    }
}

/// The rustls error in `cause`. tokio-rustls hands it up inside an `io::Error`, which hyper
/// wraps in another; `io::Error::source` skips what it wraps, so the layers are opened here.
fn tls_error_in<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let mut io = cause.downcast_ref::<std::io::Error>();
    while let Some(e) = io {
        let inner = e.get_ref()?;
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        io = inner.downcast_ref::<std::io::Error>();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> AuthenticatorError {
        from_answer(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

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
    }

    #[test]
    fn key_store_errors_map_to_what_the_app_acts_on() {
        let cases = [
            (
                KeyStoreError::NotFound("a".into()),
                AuthenticatorError::KeyMissing,
            ),
            (
                KeyStoreError::KeyInvalidated("a".into()),
                AuthenticatorError::KeyInvalidated,
            ),
            (
                KeyStoreError::UserAuthenticationRequired("a".into()),
                AuthenticatorError::UserAuthenticationRequired,
            ),
            (
                KeyStoreError::UserCancelled,
                AuthenticatorError::UserCancelled,
            ),
            (
                KeyStoreError::Backend("keystore daemon died".into()),
                AuthenticatorError::KeyStore("keystore daemon died".into()),
            ),
        ];
        for (from, to) in cases {
            assert_eq!(AuthenticatorError::from(from), to);
        }
        assert!(matches!(
            AuthenticatorError::from(StoreError::Io("disk full".into())),
            AuthenticatorError::Storage(_)
        ));
    }

    #[test]
    fn refused_certificates_are_found_inside_nested_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            tls.clone(),
        ));
        assert_eq!(tls_error_in(&nested), Some(&tls));
        assert_eq!(tls_error_in(&std::io::Error::other("reset")), None);
    }

    #[test]
    fn answers_map_to_typed_errors() {
        assert_eq!(
            err(401, r#"{"error":"unknown_device"}"#),
            AuthenticatorError::DeviceRevoked
        );
        assert_eq!(
            err(401, r#"{"error":"device_revoked","error_description":"x"}"#),
            AuthenticatorError::DeviceRevoked
        );
        assert_eq!(err(404, ""), AuthenticatorError::NotFound);
        assert_eq!(
            err(409, r#"{"error":"already_decided"}"#),
            AuthenticatorError::AlreadyDecided
        );
        assert_eq!(
            err(410, r#"{"error":"expired"}"#),
            AuthenticatorError::Expired
        );
        assert_eq!(
            err(
                401,
                r#"{"error":"invalid_dpop_proof","error_description":"stale iat"}"#
            ),
            AuthenticatorError::Server {
                status: 401,
                error: "invalid_dpop_proof".into(),
                description: Some("stale iat".into()),
            }
        );
        assert!(matches!(
            err(502, "<html>\nBad gateway</html>"),
            AuthenticatorError::Server { status: 502, ref error, description: Some(ref d) }
                if error == "unexpected_response" && !d.contains('\n')
        ));
    }
}
