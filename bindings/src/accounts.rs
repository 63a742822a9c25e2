//! Accounts: the [`Account`] record, the app's [`AccountStore`] foreign trait and its adapter,
//! and the records of enrollment and of the account lifecycle.

use std::sync::Arc;

use ciba_core::authenticator as sdk;

use crate::device::PushRegistration;
use crate::error::{AuthenticatorError, StoreError};
use crate::keys::KeyOptions;

/// One enrollment of this device with one bank's server for one user. Nothing here is secret:
/// the private key stays in the `KeyStore` under `key_alias`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// A random local identifier (never sent to the server).
    pub id: String,
    /// The server's issuer, exactly as the server stated it at enrollment.
    pub issuer: String,
    /// The device id the server assigned.
    pub device_id: String,
    /// The alias of this account's key in the key store.
    pub key_alias: String,
    /// The user's subject identifier at the server.
    pub subject: String,
    /// The user's display name, if the bank set one.
    pub user_display_name: Option<String>,
    /// A label for the account in the app's list.
    pub account_label: String,
    /// When the account was enrolled (seconds since the epoch, device clock).
    pub enrolled_at: i64,
    /// The push registration the server has.
    pub push: PushRegistration,
    /// How the account's key is protected; a rotated key gets the same protection.
    pub key_options: KeyOptions,
    /// TLS pins for this account's server (base64 SHA-256 of SubjectPublicKeyInfo); empty for
    /// none.
    pub tls_pins: Vec<String>,
    /// What the server verified about this device at enrollment; `null` when the server did
    /// not say (protocol v1).
    #[uniffi(default = None)]
    pub attestation: Option<EnrolledAttestation>,
    /// The alias of the approval key, when the account has one (it signs approvals).
    #[uniffi(default = None)]
    pub approval_key_alias: Option<String>,
    /// What the server verified about the approval key.
    #[uniffi(default = None)]
    pub approval_attestation: Option<EnrolledAttestation>,
}

/// The device trust the server recorded at enrollment (DEVICE-PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrolledAttestation {
    /// `verified`, `unverified` or `none`.
    pub status: String,
    /// The `amr` the device's approvals carry (RFC 8176), e.g. `["hwk"]` or `["swk"]`.
    pub amr: Vec<String>,
    /// Why an attestation the device sent did not verify (`key_mismatch`, `expired`, …).
    pub reason: Option<String>,
}

impl From<ciba_core::protocol::EnrolledAttestation> for EnrolledAttestation {
    fn from(a: ciba_core::protocol::EnrolledAttestation) -> Self {
        Self {
            status: a.status,
            amr: a.amr,
            reason: a.reason,
        }
    }
}

impl From<EnrolledAttestation> for ciba_core::protocol::EnrolledAttestation {
    fn from(a: EnrolledAttestation) -> Self {
        Self {
            status: a.status,
            amr: a.amr,
            reason: a.reason,
        }
    }
}

/// Persistent storage of [`Account`]s: the app's database or encrypted preferences. Each `save`
/// and `delete` must be atomic. Throw [`StoreError`] (`StoreException`) to report a failure; any
/// other exception is reported as `StoreError.Io`.
#[uniffi::export(foreign)]
pub trait AccountStore: Send + Sync {
    /// Every stored account, in enrollment order.
    fn load_all(&self) -> Result<Vec<Account>, StoreError>;
    /// Inserts the account, or replaces the stored one with the same `id`.
    fn save(&self, account: Account) -> Result<(), StoreError>;
    /// Removes the account with this id; removing an absent account is not an error.
    fn delete(&self, account_id: String) -> Result<(), StoreError>;
}

/// Choices made when enrolling an account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrollOptions {
    /// The protection of the account's new key.
    pub key: KeyOptions,
    /// TLS pins for the bank's server, base64 SHA-256 of the SubjectPublicKeyInfo of its
    /// certificate (include a backup key's pin). Ship them in the app, not in the QR code.
    #[uniffi(default = [])]
    pub tls_pins: Vec<String>,
    /// When set, a second key, the approval key, is created with these options (typically
    /// `UserVerification.BIOMETRIC`) and signs approvals only (DEVICE-PROTOCOL.md §3.2); the
    /// account's key keeps signing everything else, so background fetches never prompt.
    #[uniffi(default = None)]
    pub approval_key: Option<KeyOptions>,
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AccountState {
    /// The key is here and the server knows the device as active.
    Active,
    /// The server revoked the device (or no longer knows it): enroll again.
    Revoked,
    /// The key is gone from this device (restored backup, biometrics re-enrolled): enroll
    /// again.
    NeedsReenrollment,
}

/// What a push-token update did for one account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushTokenUpdate {
    /// The local id of the account.
    pub account_id: String,
    /// `null` when the server took the new registration; otherwise why not.
    pub error: Option<AuthenticatorError>,
}

impl From<sdk::Account> for Account {
    fn from(a: sdk::Account) -> Self {
        Self {
            id: a.id,
            issuer: a.issuer,
            device_id: a.device_id,
            key_alias: a.key_alias,
            subject: a.subject,
            user_display_name: a.user_display_name,
            account_label: a.account_label,
            enrolled_at: a.enrolled_at,
            push: a.push.into(),
            key_options: a.key_options.into(),
            tls_pins: a.tls_pins,
            attestation: a.attestation.map(Into::into),
            approval_key_alias: a.approval_key_alias,
            approval_attestation: a.approval_attestation.map(Into::into),
        }
    }
}

impl From<Account> for sdk::Account {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            issuer: a.issuer,
            device_id: a.device_id,
            key_alias: a.key_alias,
            subject: a.subject,
            user_display_name: a.user_display_name,
            account_label: a.account_label,
            enrolled_at: a.enrolled_at,
            push: a.push.into(),
            key_options: a.key_options.into(),
            tls_pins: a.tls_pins,
            attestation: a.attestation.map(Into::into),
            approval_key_alias: a.approval_key_alias,
            approval_attestation: a.approval_attestation.map(Into::into),
        }
    }
}

impl From<EnrollOptions> for sdk::EnrollOptions {
    fn from(o: EnrollOptions) -> Self {
        Self {
            key: o.key.into(),
            tls_pins: o.tls_pins,
            approval_key: o.approval_key.map(Into::into),
        }
    }
}

impl From<sdk::AccountState> for AccountState {
    fn from(s: sdk::AccountState) -> Self {
        match s {
            sdk::AccountState::Active => Self::Active,
            sdk::AccountState::Revoked => Self::Revoked,
            sdk::AccountState::NeedsReenrollment => Self::NeedsReenrollment,
        }
    }
}

impl From<sdk::PushTokenUpdate> for PushTokenUpdate {
    fn from(u: sdk::PushTokenUpdate) -> Self {
        Self {
            account_id: u.account_id,
            error: u.error.map(Into::into),
        }
    }
}

/// The app's [`AccountStore`] as the SDK's.
pub(crate) struct AppAccountStore(pub(crate) Arc<dyn AccountStore>);

impl sdk::AccountStore for AppAccountStore {
    fn load_all(&self) -> Result<Vec<sdk::Account>, sdk::StoreError> {
        Ok(self.0.load_all()?.into_iter().map(Into::into).collect())
    }

    fn save(&self, account: sdk::Account) -> Result<(), sdk::StoreError> {
        Ok(self.0.save(account.into())?)
    }

    fn delete(&self, account_id: String) -> Result<(), sdk::StoreError> {
        Ok(self.0.delete(account_id)?)
    }
}
