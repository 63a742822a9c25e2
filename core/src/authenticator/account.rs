//! What the device remembers about each enrollment, and a transaction as the SDK hands it out.

use serde::{Deserialize, Serialize};

use super::{AuthenticatorError, KeyOptions};
use crate::protocol::{PushRegistration, TransactionView};

/// One enrollment of this device with one server for one user.
///
/// Nothing here is secret: the private key stays in the [`KeyStore`](super::KeyStore) under
/// [`key_alias`](Self::key_alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// A random local identifier (never sent to the server).
    pub id: String,
    /// The server's issuer, exactly as the server stated it at enrollment.
    pub issuer: String,
    /// The device id the server assigned (the `kid` and `iss` of decisions).
    pub device_id: String,
    /// The alias of this account's key in the key store.
    pub key_alias: String,
    /// The user's subject identifier at the server.
    pub subject: String,
    /// The user's display name, if the bank set one.
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// A label for the account in the app's list.
    pub account_label: String,
    /// When the account was enrolled (seconds since the epoch, device clock).
    pub enrolled_at: i64,
    /// The push registration the server has (sent at enrollment, updated by
    /// [`Authenticator::update_push_token`](super::Authenticator::update_push_token)).
    pub push: PushRegistration,
    /// How the account's key is protected; a rotated key gets the same protection.
    #[serde(default)]
    pub key_options: KeyOptions,
    /// TLS pins for this account's server: base64 SHA-256 digests of SubjectPublicKeyInfo. Empty:
    /// the system's (and the configured) trust alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_pins: Vec<String>,
    /// What the server verified about this device at enrollment, and the `amr` its approvals
    /// carry; `None` when the server did not say (protocol v1). A rotated key has no
    /// attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<crate::protocol::EnrolledAttestation>,
    /// The alias of the approval key (DEVICE-PROTOCOL.md §3.2), when the account has one: it
    /// signs approvals, the account's key signing everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_key_alias: Option<String>,
    /// What the server verified about the approval key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_attestation: Option<crate::protocol::EnrolledAttestation>,
}

/// Choices made when enrolling an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrollOptions {
    /// The protection of the account's new key.
    pub key: KeyOptions,
    /// TLS pins for the bank's server, base64 SHA-256 of the SubjectPublicKeyInfo of its
    /// certificate (include a backup key's pin). Applied from the enrollment call on, and stored
    /// with the account. Empty: no pinning.
    pub tls_pins: Vec<String>,
    /// When set, a second key, the **approval key**, is created with these options (typically
    /// `UserVerification::Biometric`) and signs approvals only (DEVICE-PROTOCOL.md §3.2); the
    /// account's key, created with [`key`](Self::key), keeps signing DPoP proofs, so fetching
    /// requests in the background never prompts. `None`: one key signs everything.
    pub approval_key: Option<KeyOptions>,
}

/// Where an account stands, as [`Authenticator::account_status`](super::Authenticator::account_status)
/// finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// The key is here and the server knows the device as active.
    Active,
    /// The server revoked the device (or no longer knows it): enroll again.
    Revoked,
    /// The key is gone from this device (restored backup, biometrics re-enrolled): enroll again.
    NeedsReenrollment,
}

/// What a push-token update did for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTokenUpdate {
    /// The local id of the account.
    pub account_id: String,
    /// `None` when the server took the new registration (and the account was saved with it);
    /// otherwise why not.
    pub error: Option<AuthenticatorError>,
}

/// A transaction together with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The local id of the [`Account`] that fetched it.
    pub account_id: String,
    /// The transaction as the server showed it; a decision signs exactly this view.
    pub view: TransactionView,
}
