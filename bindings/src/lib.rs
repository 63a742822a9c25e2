//! # Kotlin and Swift bindings of the authenticator SDK
//!
//! A thin adaptation of [`ciba_core::authenticator`] for uniffi (proc-macros, library mode): a
//! bank app on Android or iOS builds an [`Authenticator`] over its own [`KeyStore`] (Android
//! Keystore, Secure Enclave) and [`AccountStore`], then calls its `suspend` / `async` methods:
//! `enroll`, `handlePush`, `pending`, `approve`, `deny`, and the lifecycle calls.
//!
//! Nothing here decides anything: every type mirrors one of the SDK's, every function calls
//! the SDK, and every failure — the SDK's, the app's key store throwing, a callback breaking
//! the FFI contract — reaches the app as one error type, [`AuthenticatorError`]
//! (`AuthenticatorException` in Kotlin). What the app shows for each is in `core/README.md`.
//!
//! The generated Kotlin and Swift are build outputs (`bindings/scripts/`), never edited by hand.

// This crate's public items become the Kotlin and Swift documentation.
#![warn(missing_docs)]

uniffi::setup_scaffolding!();

mod accounts;
#[cfg(target_os = "android")]
mod android;
mod authenticator;
mod config;
mod device;
mod error;
mod keys;
mod transactions;

pub use accounts::{
    Account, AccountState, AccountStore, EnrollOptions, EnrolledAttestation, PushTokenUpdate,
};
pub use authenticator::Authenticator;
pub use config::{AuthenticatorConfig, default_authenticator_config, sdk_version};
pub use device::{DeviceInfo, Platform, PushEnvironment, PushProvider, PushRegistration};
pub use error::{AuthenticatorError, KeyStoreError, StoreError};
pub use keys::{KeyAttestation, KeyOptions, KeySignature, KeyStore, UserVerification};
pub use transactions::{
    ClientView, DecisionStatus, DenyReason, Transaction, TransactionStatus, TransactionView,
    consent_text,
};
