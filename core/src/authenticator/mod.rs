//! The authenticator SDK: what a bank app embeds to act as a CIBA authentication device.
//!
//! An [`Authenticator`] pairs the device with a server ([`Authenticator::enroll`]), turns push
//! wake-ups into transactions ([`Authenticator::handle_push`]), lists and fetches what waits for
//! the user ([`Authenticator::pending`], [`Authenticator::transaction`]), and signs the user's
//! decision over exactly what was shown ([`Authenticator::approve`], [`Authenticator::deny`]).
//!
//! Storage and keys are pluggable: accounts go to an [`AccountStore`] ([`FileAccountStore`],
//! [`MemoryAccountStore`], or the app's own) and keys to a [`KeyStore`] (the platform's secure
//! hardware on a phone, [`SoftwareKeyStore`] elsewhere). Time comes from an injected
//! [`SharedClock`], so expiry logic is testable without waiting.
//!
//! The device lifecycle (DEVICE-PROTOCOL.md §7) is here too: push-token rotation for every
//! account at once ([`Authenticator::update_push_token`]), key rotation
//! ([`Authenticator::rotate_key`]), unenrollment ([`Authenticator::unenroll`]), and noticing that
//! the bank revoked the device or that the key is gone ([`Authenticator::account_status`]).
//!
//! Every call to the server is authenticated with a DPoP proof by the account's key
//! (DEVICE-PROTOCOL.md §2); the SDK talks only to https issuers, or plain http on loopback for
//! development, trusting the platform's roots plus [`AuthenticatorConfig::extra_trust_anchors`],
//! and only the pinned keys of an account that has [`Account::tls_pins`].
//!
//! Errors reach the app as one enum, [`AuthenticatorError`]; `core/README.md` says what an app
//! shows for each.

// This API becomes the Kotlin/Swift documentation: every public item says what it is.
#![warn(missing_docs)]

mod account;
mod account_store;
mod decision;
mod device_api;
mod enrollment;
mod error;
mod fs;
mod issuer;
mod key_store;
mod lifecycle;
mod tls;
mod transactions;

use std::sync::Arc;
use std::time::Duration;

pub use account::{Account, AccountState, EnrollOptions, PushTokenUpdate, Transaction};
pub use account_store::{AccountStore, FileAccountStore, MemoryAccountStore};
pub use error::{AuthenticatorError, KeyStoreError, StoreError};
pub use issuer::check_issuer;
pub use key_store::{
    KeyAttestation, KeyOptions, KeySignature, KeyStore, KeyStoreSigner, SoftwareKeyStore,
    UserVerification,
};
pub use tls::spki_sha256_pin;

use crate::clock::SharedClock;
use device_api::DeviceApi;

/// The version of this SDK, as sent in [`DeviceInfo::sdk_version`](crate::protocol::DeviceInfo).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How the SDK talks to servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorConfig {
    /// The HTTP `User-Agent` of every request.
    pub user_agent: String,
    /// The limit for one whole HTTP exchange (connect, send, receive).
    pub timeout: Duration,
    /// Trust the platform's certificate verification (its root store, and on Android and Apple
    /// platforms its own checks). Turn off to trust only
    /// [`extra_trust_anchors`](Self::extra_trust_anchors).
    pub trust_system_roots: bool,
    /// Additional root certificates, each PEM (one or more `CERTIFICATE` blocks) or DER: a
    /// bank's private CA, or a test CA.
    pub extra_trust_anchors: Vec<Vec<u8>>,
}

impl Default for AuthenticatorConfig {
    /// `ciba-authenticator-sdk/<version>`, 30 seconds, system trust, no extra anchors.
    fn default() -> Self {
        Self {
            user_agent: format!("ciba-authenticator-sdk/{SDK_VERSION}"),
            timeout: Duration::from_secs(30),
            trust_system_roots: true,
            extra_trust_anchors: Vec::new(),
        }
    }
}

/// The SDK's entry point. Cheap to clone; clones share the stores, the clock and the HTTP
/// connection pool.
#[derive(Clone)]
pub struct Authenticator {
    accounts: Arc<dyn AccountStore>,
    keys: Arc<dyn KeyStore>,
    clock: SharedClock,
    api: DeviceApi,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over the given stores and clock. Fails if an extra trust anchor cannot be
    /// read, or the HTTP client cannot be built.
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        keys: Arc<dyn KeyStore>,
        clock: SharedClock,
        config: AuthenticatorConfig,
    ) -> Result<Self, AuthenticatorError> {
        let api = DeviceApi::new(&config, Arc::clone(&clock))?;
        Ok(Self {
            accounts,
            keys,
            clock,
            api,
        })
    }

    /// Every enrolled account, in enrollment order.
    pub fn accounts(&self) -> Result<Vec<Account>, AuthenticatorError> {
        Ok(self.accounts.load_all()?)
    }

    /// A [`Signer`](crate::jose::Signer) for an account's key; [`AuthenticatorError::NotFound`]
    /// for an unknown account, [`AuthenticatorError::KeyMissing`] if its key is gone.
    pub fn signer(&self, account_id: &str) -> Result<KeyStoreSigner, AuthenticatorError> {
        let account = self.account(account_id)?;
        self.signer_for(&account)
    }

    /// The account with this local id.
    fn account(&self, account_id: &str) -> Result<Account, AuthenticatorError> {
        self.accounts
            .load_all()?
            .into_iter()
            .find(|a| a.id == account_id)
            .ok_or(AuthenticatorError::NotFound)
    }

    fn signer_for(&self, account: &Account) -> Result<KeyStoreSigner, AuthenticatorError> {
        Ok(KeyStoreSigner::new(
            Arc::clone(&self.keys),
            account.key_alias.clone(),
        )?)
    }

    /// The signer of approvals: the approval key when the account has one.
    fn approval_signer_for(&self, account: &Account) -> Result<KeyStoreSigner, AuthenticatorError> {
        match &account.approval_key_alias {
            Some(alias) => Ok(KeyStoreSigner::new(Arc::clone(&self.keys), alias.clone())?),
            None => self.signer_for(account),
        }
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::Fixture;
    use super::*;
    use crate::protocol::{DeviceInfo, Platform, PushProvider, PushRegistration};

    fn device() -> DeviceInfo {
        DeviceInfo {
            display_name: "test".into(),
            platform: Platform::Other,
            model: None,
            os_version: None,
            app_version: None,
            sdk_version: Some(SDK_VERSION.into()),
        }
    }

    #[tokio::test]
    async fn push_payloads_are_validated_and_routed_by_issuer() {
        let fx = Fixture::new();
        let auth = &fx.authenticator;
        for garbage in [
            "",
            "not json",
            r#"{"v":"2","iss":"https://as.example","txn":"txn_1"}"#,
            r#"{"v":"1","iss":"https://as.example","txn":"../../admin"}"#,
        ] {
            assert!(
                matches!(
                    auth.handle_push(garbage).await,
                    Err(AuthenticatorError::InvalidInput(_))
                ),
                "{garbage}"
            );
        }
        assert_eq!(
            auth.handle_push(r#"{"v":"1","iss":"https://other.example","txn":"txn_1"}"#)
                .await,
            Err(AuthenticatorError::UnknownIssuer(
                "https://other.example".into()
            ))
        );
    }

    #[tokio::test]
    async fn enrollment_refuses_bad_uris_and_insecure_issuers_before_making_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(SoftwareKeyStore::open(dir.path().join("keys")).unwrap());
        let auth = Authenticator::new(
            Arc::new(MemoryAccountStore::new()),
            keys,
            Arc::new(crate::clock::ManualClock::new(1)),
            AuthenticatorConfig::default(),
        )
        .unwrap();
        let push = PushRegistration::none;
        assert!(matches!(
            auth.enroll("https://not-an-enrollment-uri", device(), push())
                .await,
            Err(AuthenticatorError::InvalidInput(_))
        ));
        assert!(matches!(
            auth.enroll(
                "ciba-enroll://v1?issuer=http%3A%2F%2Fbank.example&code=abc",
                device(),
                push()
            )
            .await,
            Err(AuthenticatorError::InsecureIssuer(_))
        ));
        let fcm_without_token = PushRegistration {
            provider: PushProvider::Fcm,
            token: None,
            environment: Default::default(),
        };
        assert!(matches!(
            auth.enroll(
                "ciba-enroll://v1?issuer=https%3A%2F%2Fbank.example&code=abc",
                device(),
                fcm_without_token
            )
            .await,
            Err(AuthenticatorError::InvalidInput(_))
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
            0
        );
        assert_eq!(auth.accounts().unwrap(), vec![]);
    }

    /// A failure after the key was made (here: nothing listens on the port) deletes the key.
    #[tokio::test]
    async fn failed_enrollment_deletes_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(SoftwareKeyStore::open(dir.path().join("keys")).unwrap());
        let auth = Authenticator::new(
            Arc::new(MemoryAccountStore::new()),
            keys,
            Arc::new(crate::clock::ManualClock::new(1)),
            AuthenticatorConfig::default(),
        )
        .unwrap();
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uri = format!("ciba-enroll://v1?issuer=http%3A%2F%2F127.0.0.1%3A{port}&code=abc");
        assert!(matches!(
            auth.enroll(&uri, device(), PushRegistration::none()).await,
            Err(AuthenticatorError::Network(_))
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
            0
        );
        assert_eq!(auth.accounts().unwrap(), vec![]);
    }

    #[tokio::test]
    async fn lookups_without_accounts_or_with_bad_ids() {
        let auth = Authenticator::new(
            Arc::new(MemoryAccountStore::new()),
            Arc::new(SoftwareKeyStore::in_memory()),
            Arc::new(crate::clock::ManualClock::new(1)),
            AuthenticatorConfig::default(),
        )
        .unwrap();
        assert_eq!(auth.pending().await, Ok(vec![]));
        assert_eq!(
            auth.find_transaction("txn_1").await,
            Err(AuthenticatorError::NotFound)
        );
        assert!(matches!(
            auth.find_transaction("a/b").await,
            Err(AuthenticatorError::InvalidInput(_))
        ));
        assert_eq!(
            auth.transaction("nobody", "txn_1").await,
            Err(AuthenticatorError::NotFound)
        );
        assert_eq!(
            auth.signer("nobody").unwrap_err(),
            AuthenticatorError::NotFound
        );
    }

    /// Apps and tests drive the SDK from spawned tasks and other threads.
    #[test]
    fn authenticator_and_its_futures_are_send() {
        fn is_send_sync<T: Send + Sync>(_: &T) {}
        fn is_send<T: Send>(_: T) {}
        let fx = Fixture::new();
        let auth = &fx.authenticator;
        is_send_sync(auth);
        let txn = fx.transaction();
        is_send(auth.enroll("x", device(), PushRegistration::none()));
        is_send(auth.pending());
        is_send(auth.transaction("a", "t"));
        is_send(auth.find_transaction("t"));
        is_send(auth.handle_push("{}"));
        is_send(auth.approve(&txn, vec![]));
        is_send(auth.deny(&txn, crate::protocol::DenyReason::UserDeclined));
    }

    #[test]
    fn fixture_account_is_listed_and_signs() {
        let fx = Fixture::new();
        assert_eq!(fx.authenticator.accounts().unwrap().len(), 1);
        assert_eq!(fx.accounts.load_all().unwrap()[0].id, "acct-1");
        let signer = fx.authenticator.signer("acct-1").unwrap();
        assert_eq!(crate::jose::Signer::public_jwk(&signer), fx.keys_jwk());
    }
}
