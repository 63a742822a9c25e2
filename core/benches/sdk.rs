//! The SDK's own hot paths on the phone, without the network: the consent hash of what the
//! screen shows, a signed decision (claims, canonical JSON, JWS with the account's key), a DPoP
//! proof (every device call carries one), and the CPU part of handling a wake-up push
//! (validating the payload, decoding the transaction the server answers, hashing its consent).
//! Keys are `SoftwareKeyStore`'s (ring, P-256): on a phone the Keystore / Secure Enclave signs
//! instead, and takes longer than any of this. Run in release mode:
//!
//! ```sh
//! cargo bench -p ciba-core --bench sdk
//! ```
//! Prints, per operation, the median and the fastest of 7 rounds (µs per operation).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ciba_core::authenticator::{
    Account, AccountStore, Authenticator, AuthenticatorConfig, KeyStore, KeyStoreSigner,
    MemoryAccountStore, SoftwareKeyStore, Transaction,
};
use ciba_core::clock::ManualClock;
use ciba_core::jose::dpop_proof;
use ciba_core::protocol::{
    ClientView, DecisionAction, PushPayload, PushRegistration, TransactionStatus, TransactionView,
};

type Error = Box<dyn std::error::Error>;

const NOW: i64 = 1_790_000_000;
const ROUNDS: usize = 7;

/// What a bank's screen shows for a payment: a binding message and payment details.
fn view() -> TransactionView {
    TransactionView {
        id: "txn_0000000066a1b2c3_3q2-7wAbCdEfGhIjKlMnOp".into(),
        status: TransactionStatus::Pending,
        client: ClientView {
            client_id: "call-centre-console".into(),
            name: "Customer Service Console".into(),
            logo_uri: None,
        },
        scope: vec!["openid".into(), "accounts".into(), "payments".into()],
        acr_values: vec![],
        binding_message: Some("W4-7QX".into()),
        authorization_details: Some(vec![serde_json::json!({
            "type": "payment_initiation",
            "instructedAmount": {"currency": "EUR", "amount": "123.50"},
            "creditorName": "Merchant A",
            "creditorAccount": {"iban": "DE02100100109307118603"},
            "remittanceInformationUnstructured": "Ref Number Merchant"
        })]),
        user_code_required: false,
        requested_at: NOW - 10,
        expires_at: NOW + 290,
        challenge: "Y2hhbGxlbmdlLWZyb20tdGhlLXNlcnZlcg".into(),
    }
}

/// Runs `op` `n` times per round; prints the median and the fastest round in µs per operation.
fn measure(name: &str, n: usize, mut op: impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    for _ in 0..n / 10 + 1 {
        op()?;
    }
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..n {
            op()?;
        }
        rounds.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    rounds.sort_by(f64::total_cmp);
    println!(
        "| {name} | {:.2} µs | {:.2} µs |",
        rounds[ROUNDS / 2],
        rounds[0]
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let keys = Arc::new(SoftwareKeyStore::in_memory());
    keys.create_key("key-1".into(), Default::default())?;
    let accounts = Arc::new(MemoryAccountStore::new());
    accounts.save(Account {
        id: "acct-1".into(),
        issuer: "https://bank.example".into(),
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
    })?;
    let sdk = Authenticator::new(
        accounts,
        keys.clone(),
        Arc::new(ManualClock::new(NOW)),
        AuthenticatorConfig::default(),
    )?;
    let txn = Transaction {
        account_id: "acct-1".into(),
        view: view(),
    };
    let signer = KeyStoreSigner::new(keys, "key-1")?;
    let push = r#"{"v":"1","iss":"https://bank.example","txn":"txn_0000000066a1b2c3_3q2-7wAbCdEfGhIjKlMnOp"}"#;
    let answer = serde_json::to_string(&view())?;

    println!("| operation | median | fastest |");
    println!("|---|---|---|");
    measure("consent hash (payment details)", 20_000, || {
        black_box(black_box(&txn.view).consent_hash()?);
        Ok(())
    })?;
    measure("decision JWS (approve, ES256)", 2_000, || {
        black_box(sdk.build_decision(
            &txn,
            DecisionAction::Approve,
            vec!["face".into(), "hwk".into()],
            None,
        )?);
        Ok(())
    })?;
    measure("DPoP proof (ES256)", 2_000, || {
        black_box(dpop_proof(
            &signer,
            "GET",
            "https://bank.example/device/v1/transactions/txn_0000000066a1b2c3",
            NOW,
            "Jq0JYx8hPqv1D3bn8kV1Gg",
        )?);
        Ok(())
    })?;
    measure(
        "push handling, CPU part (payload, DPoP, decode, consent hash)",
        2_000,
        || {
            let payload = PushPayload::from_json(black_box(push))?;
            let url = format!(
                "https://bank.example/device/v1/transactions/{}",
                payload.txn
            );
            black_box(dpop_proof(
                &signer,
                "GET",
                &url,
                NOW,
                "Jq0JYx8hPqv1D3bn8kV1Gg",
            )?);
            let view: TransactionView = serde_json::from_str(black_box(&answer))?;
            black_box(view.consent_hash()?);
            Ok(())
        },
    )?;
    Ok(())
}
