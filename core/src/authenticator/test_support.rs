//! A hand-made account with a software key, for unit tests that need no server.

use std::sync::Arc;

use super::{
    Account, AccountStore, Authenticator, AuthenticatorConfig, KeyStore, MemoryAccountStore,
    SoftwareKeyStore, Transaction,
};
use crate::clock::ManualClock;
use crate::jose::Jwk;
use crate::protocol::{ClientView, PushRegistration, TransactionStatus, TransactionView};

pub(crate) struct Fixture {
    pub authenticator: Authenticator,
    pub keys: Arc<SoftwareKeyStore>,
    pub accounts: Arc<MemoryAccountStore>,
    pub clock: ManualClock,
}

pub(crate) const NOW: i64 = 1_790_000_000;

impl Fixture {
    /// One account `acct-1` (device `dev-1`, key `key-1`) enrolled with `https://as.example`.
    pub fn new() -> Self {
        let keys = Arc::new(SoftwareKeyStore::in_memory());
        keys.create_key("key-1".into(), Default::default()).unwrap();
        let accounts = Arc::new(MemoryAccountStore::new());
        accounts
            .save(Account {
                id: "acct-1".into(),
                issuer: "https://as.example".into(),
                device_id: "dev-1".into(),
                key_alias: "key-1".into(),
                subject: "sub-1".into(),
                user_display_name: Some("Mark".into()),
                account_label: "Example Bank".into(),
                enrolled_at: NOW - 1000,
                push: PushRegistration::none(),
                key_options: Default::default(),
                tls_pins: vec![],
                attestation: None,
                approval_key_alias: None,
                approval_attestation: None,
            })
            .unwrap();
        let clock = ManualClock::new(NOW);
        let authenticator = Authenticator::new(
            accounts.clone(),
            keys.clone(),
            Arc::new(clock.clone()),
            AuthenticatorConfig::default(),
        )
        .unwrap();
        Self {
            authenticator,
            keys,
            accounts,
            clock,
        }
    }

    pub fn now(&self) -> i64 {
        crate::clock::Clock::now(&self.clock)
    }

    pub fn keys_jwk(&self) -> Jwk {
        super::key_store::jwk_from_public_key(&self.keys.public_key("key-1".into()).unwrap())
            .unwrap()
    }

    /// A pending transaction of `acct-1` with everything a view can show.
    pub fn transaction(&self) -> Transaction {
        Transaction {
            account_id: "acct-1".into(),
            view: TransactionView {
                id: "txn_abc".into(),
                status: TransactionStatus::Pending,
                client: ClientView {
                    client_id: "client-1".into(),
                    name: "Customer Service Console".into(),
                    logo_uri: None,
                },
                scope: vec!["openid".into(), "accounts".into()],
                acr_values: vec![],
                binding_message: Some("W4-7QX".into()),
                authorization_details: Some(vec![serde_json::json!({
                    "type": "payment_initiation",
                    "instructedAmount": {"currency": "EUR", "amount": "123.50"}
                })]),
                user_code_required: false,
                requested_at: NOW - 10,
                expires_at: NOW + 290,
                challenge: "Y2hhbGxlbmdl".into(),
            },
        }
    }
}
