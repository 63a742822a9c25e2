//! Device trust over HTTP (issue 15): the attestation policy at enrollment (`none`, `optional`,
//! `required`), every real attestation sample of tests/fixtures/attestation submitted to the
//! real server with its clock at the sample's time, what the admin API, the audit log and
//! `/metrics` say, and `amr` in tokens taken from the stored facts.
//!
//! A real sample's key is some phone's, whose private half nobody has, and its challenge is the
//! one that phone was given: no test can enroll *with* it. So over HTTP each sample goes as far
//! as the binding step — the chain to the root, the parsing, the policy — and the tests assert
//! that it stopped exactly there (a positive sample fails only because the key and challenge are
//! not this enrollment's; a negative one fails at the check the fixtures' README names). The full
//! positive verdict of every sample, with its own key and challenge, is in the server's unit tests
//! (`server/src/attestation/tests.rs`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ciba_core::clock::Clock;
use ciba_core::jose::software::{SoftwareSigner, random_b64u};
use ciba_core::protocol::PushRegistration;
use ciba_e2e::*;
use ciba_server::config::AttestationMode;
use reqwest::Method;
use serde_json::{Value, json};

fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/attestation")
}

fn sample(kind: &str, name: &str) -> Value {
    let path = fixtures().join(kind).join(name).join("sample.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The certificates of an Android sample's chain (DER, leaf first), as `getCertificateChain`
/// gives them.
fn android_chain(name: &str) -> Vec<Vec<u8>> {
    let pem =
        std::fs::read_to_string(fixtures().join("android").join(name).join("chain.pem")).unwrap();
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|block| {
            let body: String = block
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            STANDARD.decode(body).unwrap()
        })
        .collect()
}

/// What the SDK sends for an Android sample: the chain's DER, one certificate after the other.
fn android_data(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(android_chain(name).concat())
}

fn apple_data(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        std::fs::read(fixtures().join("apple").join(name).join("attestation.cbor")).unwrap(),
    )
}

/// What enrollment stores for a key attested at `security_level` that needs the user's
/// biometrics on every use (the JSON of `attestation::DeviceTrust::Verified`).
fn biometric_key_facts(security_level: &str) -> Value {
    json!({"status": "verified", "format": "android-key", "hardware_key": true,
           "security_level": security_level, "verified_boot": true,
           "user_verification": {"biometric": true, "device_credential": false, "per_use": true}})
}

/// Enrolls a fresh key for `user_id` with a raw request carrying `attestation`.
async fn enroll_with(
    server: &TestServer,
    user_id: &str,
    platform: &str,
    attestation: Option<Value>,
) -> (u16, Value, String) {
    let uri = server.enrollment_uri(user_id).await;
    let code = enrollment_code(&uri);
    let path = "/device/v1/enrollments";
    let signer = SoftwareSigner::generate().unwrap();
    let proof = ciba_core::jose::dpop_proof(
        &signer,
        "POST",
        &format!("{}{path}", server.issuer),
        server.clock.now(),
        &random_b64u(16).unwrap(),
    )
    .unwrap();
    let mut body = json!({"code": code, "push": PushRegistration::none(),
                          "device": {"display_name": "Sample phone", "platform": platform}});
    if let Some(a) = attestation {
        body["attestation"] = a;
    }
    let (status, answer) = device_call(server, Method::POST, path, &proof, Some(body)).await;
    (status, answer, code)
}

async fn audit_of(server: &TestServer, user_id: &str, kind: &str) -> Vec<Value> {
    let mut events = server.audit_events(user_id).await;
    events.retain(|e| e["kind"] == kind);
    events
}

async fn devices_of(server: &TestServer, user_id: &str) -> Vec<Value> {
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/users/{user_id}/devices"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["devices"].as_array().unwrap().clone()
}

fn enrollments_metric(metrics: &str, outcome: &str) -> u64 {
    let line = format!("ciba_enrollments_total{{attestation=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in metrics"))
        .parse()
        .unwrap()
}

const ANDROID_POSITIVE: [&str; 10] = [
    "pixel9a-tegu-sdk36-keymint4-tee-ec-2026root",
    "pixel9a-tegu-sdk36-keymint3-strongbox-ec-2026root",
    "pixel9a-tegu-sdk37-keymint5-tee-ec-usagecount",
    "pixel9pro-caiman-sdk36-keymint4-tee-ec-rkp",
    "pixel9pro-caiman-sdk36-keymint3-strongbox-ec-rkp",
    "pixel8a-akita-sdk34-keymint3-tee-ec-rkp",
    "pixel3-blueline-sdk28-km4-tee-ec-factory",
    "sony-xperia10iii-sdk33-km41-tee-ec-factory",
    "aosp-avf-test-km4-tee-ec-player456",
    "google-aka-keymint2-tee-ec-rkp",
];

/// Negative and edge samples, with the check that must stop each (fixtures' README).
const ANDROID_OTHERS: [(&str, &str); 8] = [
    (
        "pixel8a-akita-sdk34-keymint3-tee-rsa-userauth",
        "key_mismatch",
    ),
    (
        "edge-keyattestation-malformed-rot-device-locked",
        "key_mismatch",
    ),
    ("neg-google-aka-tee-ec-unlocked-unverified", "key_mismatch"),
    (
        "neg-marlin-sdk29-km1-software-attested-ec",
        "untrusted_chain",
    ),
    (
        "neg-google-aka-strongbox-ec-nongoogle-root",
        "untrusted_chain",
    ),
    (
        "neg-keyattestation-tags-not-ascending-bad-leaf-sig",
        "untrusted_chain",
    ),
    ("neg-google-aka-fake-attest-key-chain", "untrusted_chain"),
    ("edge-google-aka-attest-key-chain", "unsupported"),
];

/// Every App Attest sample of the fixtures (each verifies, README of the fixtures).
fn apple_samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("apple"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "the fixtures hold ten App Attest samples");
    names
}

/// The tests move the clock to each sample's time, backwards too: the background workers (the
/// sweeper would forget enrollments that look expired at a time read before the move) stay off.
async fn optional_server() -> TestServer {
    TestServer::start_manual(|s| {
        s.attestation.policy = AttestationMode::Optional;
        s.attestation.apple.environment = ciba_server::config::AppleEnvironment::Development;
        s.attestation.apple.apps = apple_samples()
            .iter()
            .map(|n| sample("apple", n)["app_id"].as_str().unwrap().to_owned())
            .collect();
    })
    .await
}

#[tokio::test]
async fn every_real_sample_is_checked_over_http_and_stops_at_the_expected_step() {
    let server = optional_server().await;
    let user = server.create_user("sam").await;
    let user_id = user["id"].as_str().unwrap();
    let mut cases: Vec<(String, &str, String, &str)> = Vec::new();
    for name in ANDROID_POSITIVE {
        // The chain verified and its KeyDescription parsed: only the key is not this device's.
        cases.push((
            name.into(),
            "android-key",
            android_data(name),
            "key_mismatch",
        ));
    }
    for (name, reason) in ANDROID_OTHERS {
        cases.push((name.into(), "android-key", android_data(name), reason));
    }
    for name in &apple_samples() {
        // The chain verified: only the nonce (this enrollment's challenge and key) differs.
        cases.push((
            name.into(),
            "apple-app-attest",
            apple_data(name),
            "challenge_mismatch",
        ));
    }
    for (name, format, data, reason) in &cases {
        let kind = if *format == "android-key" {
            "android"
        } else {
            "apple"
        };
        let platform = if kind == "android" { "android" } else { "ios" };
        let at = sample(kind, name)["valid_at"].as_i64().unwrap();
        server.clock.set(at);
        let (status, answer, _) = enroll_with(
            &server,
            user_id,
            platform,
            Some(json!({"format": format, "data": data})),
        )
        .await;
        assert_eq!(status, 201, "{name}: {answer}");
        let device_id = answer["device_id"].as_str().unwrap();
        let device = devices_of(&server, user_id)
            .await
            .into_iter()
            .find(|d| d["device_id"] == device_id)
            .unwrap();
        assert_eq!(
            device["attestation"]["status"], "unverified",
            "{name}: {device}"
        );
        assert_eq!(device["attestation"]["reason"], *reason, "{name}: {device}");
        assert_eq!(device["amr"], json!(["swk"]), "{name}");
        // Today (the server's real clock) every RKP chain has expired: the chain check stops it.
    }
    server.clock.set(1_796_083_200); // 2026-12-01
    let (_, answer, _) = enroll_with(
        &server,
        user_id,
        "android",
        Some(json!({"format": "android-key",
                    "data": android_data("pixel9a-tegu-sdk36-keymint4-tee-ec-2026root")})),
    )
    .await;
    let device_id = answer["device_id"].as_str().unwrap().to_owned();
    let device = devices_of(&server, user_id)
        .await
        .into_iter()
        .find(|d| d["device_id"] == device_id.as_str())
        .unwrap();
    assert_eq!(device["attestation"]["reason"], "expired", "{device}");

    let enrolled = audit_of(&server, user_id, "device_enrolled").await;
    assert_eq!(enrolled.len(), cases.len() + 1);
    assert!(
        enrolled
            .iter()
            .all(|e| e["detail"]["attestation"]["status"] == "unverified"),
        "{enrolled:?}"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        enrollments_metric(&metrics, "unverified"),
        cases.len() as u64 + 1
    );
    assert_eq!(enrollments_metric(&metrics, "verified"), 0);
}

#[tokio::test]
async fn a_required_policy_refuses_what_does_not_verify_and_keeps_the_code() {
    let server =
        TestServer::start_manual(|s| s.attestation.policy = AttestationMode::Required).await;
    let user = server.create_user("rita").await;
    let user_id = user["id"].as_str().unwrap();
    let name = "pixel9a-tegu-sdk36-keymint4-tee-ec-2026root";
    server
        .clock
        .set(sample("android", name)["valid_at"].as_i64().unwrap());
    for (attestation, reason) in [
        (None, "missing"),
        (
            Some(json!({"format": "android-key", "data": "Z2FyYmFnZQ"})),
            "malformed",
        ),
        (
            Some(json!({"format": "android-key", "data": android_data(name)})),
            "key_mismatch",
        ),
        (
            Some(json!({"format": "apple-app-attest", "data": android_data(name)})),
            "malformed",
        ),
        (
            Some(json!({"format": "tpm", "data": "AAAA"})),
            "unsupported",
        ),
    ] {
        let (status, answer, code) = enroll_with(&server, user_id, "android", attestation).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("attestation_failed")),
            "{reason}: {answer}"
        );
        // The code was not consumed and no device was stored.
        let hash = ciba_server::crypto::hash_secret(&code);
        assert_eq!(
            server
                .store()
                .enrollment_code_user(&hash, server.clock.now())
                .await
                .unwrap()
                .as_deref(),
            Some(user_id),
            "{reason}"
        );
        let refused = audit_of(&server, user_id, "device_enrollment_refused").await;
        assert_eq!(
            refused.last().unwrap()["detail"]["attestation"]["reason"],
            reason,
            "{refused:?}"
        );
    }
    assert!(devices_of(&server, user_id).await.is_empty());
    // The SDK, which sends no attestation, gets the typed error.
    let uri = server.enrollment_uri(user_id).await;
    let err = server
        .authenticator()
        .enroll(&uri, device_info(), PushRegistration::none())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("attestation_failed"), "{err}");
    let metrics = server.metrics().await;
    assert_eq!(enrollments_metric(&metrics, "refused"), 6);
    assert_eq!(enrollments_metric(&metrics, "none"), 0);
}

#[tokio::test]
async fn the_default_policy_enrolls_devices_without_attestation_and_policy_none_checks_nothing() {
    // The held-out device: the SDK as it is, no attestation, default settings.
    let server = TestServer::start().await;
    let (user, _sdk, account) = server.user_with_device("olga").await;
    assert_eq!(
        account.attestation,
        Some(ciba_core::protocol::EnrolledAttestation {
            status: "none".into(),
            amr: vec!["swk".into()],
            reason: None
        })
    );
    let user_id = user["id"].as_str().unwrap();
    let device = &devices_of(&server, user_id).await[0];
    assert_eq!(device["attestation"], json!({"status": "none"}));
    assert_eq!(device["amr"], json!(["swk"]));
    assert_eq!(enrollments_metric(&server.metrics().await, "none"), 1);

    let off = TestServer::start_with(|s| s.attestation.policy = AttestationMode::None).await;
    let user = off.create_user("nils").await;
    let user_id = user["id"].as_str().unwrap();
    let (status, _, _) = enroll_with(
        &off,
        user_id,
        "android",
        Some(json!({"format": "android-key", "data": "Z2FyYmFnZQ"})),
    )
    .await;
    assert_eq!(status, 201);
    let device = &devices_of(&off, user_id).await[0];
    assert_eq!(device["attestation"]["status"], "unverified");
    assert_eq!(device["attestation"]["reason"], "not_checked");
}

#[tokio::test]
async fn the_enrollment_answer_gives_the_challenge_the_sdk_derives() {
    let server = TestServer::start().await;
    let user = server.create_user("chad").await;
    let (status, body) = server
        .admin(
            Method::POST,
            &format!(
                "/admin/v1/users/{}/enrollments",
                user["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let code = body["code"].as_str().unwrap();
    assert_eq!(
        body["attestation_challenge"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(ciba_core::protocol::attestation_challenge(code))
    );
}

/// `amr` comes from the facts stored with the device. No test can make a real phone's attested
/// key sign here, so the facts a verified StrongBox enrollment stores are written to the device
/// row (exactly the JSON enrollment writes, see `server/src/attestation`), and the approval by
/// that device's key must then carry them; rotating the key drops them.
#[tokio::test]
async fn tokens_carry_the_amr_of_the_stored_facts_and_a_new_key_drops_them() {
    let server = TestServer::start().await;
    let (user, sdk, account) = server.user_with_device("vera").await;
    let user_id = user["id"].as_str().unwrap();
    let device_id = devices_of(&server, user_id).await[0]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut facts = biometric_key_facts("strongbox");
    facts["app_id"] = json!("org.openciba.sample");
    server
        .execute_sql(
            "UPDATE devices SET attestation = $1 WHERE id = $2",
            &[&facts.to_string(), &device_id],
        )
        .await;
    let device = &devices_of(&server, user_id).await[0];
    assert_eq!(device["attestation"], facts);
    assert_eq!(device["amr"], json!(["hwk", "user", "mfa"]));

    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "vera").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    // The app claims a face scan; the token says what the hardware enforces.
    sdk.approve(&txn, vec!["face".into()]).await.unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    for token in ["id_token", "access_token"] {
        let claims = jwt_claims(tokens.body[token].as_str().unwrap());
        assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]), "{token}");
    }

    sdk.rotate_key(&account.id).await.unwrap();
    let device = &devices_of(&server, user_id).await[0];
    assert_eq!(device["attestation"], json!({"status": "none"}));
    let auth_req_id = server.start_ciba(&client, "vera").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["face".into()]).await.unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(
        jwt_claims(tokens.body["id_token"].as_str().unwrap())["amr"],
        json!(["swk"])
    );
}

/// A key store that attests its keys with a published real chain (what an Android app's store
/// returns is the same shape), over software keys.
struct AttestingKeyStore {
    keys: ciba_core::authenticator::SoftwareKeyStore,
    chain: Vec<Vec<u8>>,
    seen: std::sync::Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

impl ciba_core::authenticator::KeyStore for AttestingKeyStore {
    fn create_key(
        &self,
        alias: String,
        options: ciba_core::authenticator::KeyOptions,
    ) -> Result<Vec<u8>, ciba_core::authenticator::KeyStoreError> {
        self.keys.create_key(alias, options)
    }
    fn public_key(
        &self,
        alias: String,
    ) -> Result<Vec<u8>, ciba_core::authenticator::KeyStoreError> {
        self.keys.public_key(alias)
    }
    fn sign(
        &self,
        alias: String,
        data: Vec<u8>,
    ) -> Result<ciba_core::authenticator::KeySignature, ciba_core::authenticator::KeyStoreError>
    {
        self.keys.sign(alias, data)
    }
    fn delete_key(&self, alias: String) -> Result<(), ciba_core::authenticator::KeyStoreError> {
        self.keys.delete_key(alias)
    }
    fn has_key(&self, alias: String) -> Result<bool, ciba_core::authenticator::KeyStoreError> {
        self.keys.has_key(alias)
    }
    fn create_enrollment_key(
        &self,
        alias: String,
        options: ciba_core::authenticator::KeyOptions,
        attestation_challenge: Vec<u8>,
    ) -> Result<Vec<u8>, ciba_core::authenticator::KeyStoreError> {
        let key = self.keys.create_key(alias, options)?;
        *self.seen.lock().unwrap() = Some((attestation_challenge, Vec::new()));
        Ok(key)
    }
    fn key_attestation(
        &self,
        _alias: String,
        client_data_hash: Vec<u8>,
    ) -> Result<
        Option<ciba_core::authenticator::KeyAttestation>,
        ciba_core::authenticator::KeyStoreError,
    > {
        if let Some(seen) = self.seen.lock().unwrap().as_mut() {
            seen.1 = client_data_hash;
        }
        Ok(Some(
            ciba_core::authenticator::KeyAttestation::AndroidKeyChain(self.chain.clone()),
        ))
    }
}

#[tokio::test]
async fn the_sdk_sends_its_key_stores_attestation_made_for_the_enrollments_challenge() {
    use ciba_core::authenticator::{Authenticator, AuthenticatorConfig, MemoryAccountStore};
    let server = optional_server().await;
    let user = server.create_user("ivo").await;
    let user_id = user["id"].as_str().unwrap();
    let name = "pixel3-blueline-sdk28-km4-tee-ec-factory";
    server
        .clock
        .set(sample("android", name)["valid_at"].as_i64().unwrap());
    let chain = android_chain(name);
    assert_eq!(chain.len(), 4);
    let store = std::sync::Arc::new(AttestingKeyStore {
        keys: ciba_core::authenticator::SoftwareKeyStore::in_memory(),
        chain,
        seen: std::sync::Mutex::new(None),
    });
    let sdk = Authenticator::new(
        std::sync::Arc::new(MemoryAccountStore::new()),
        store.clone(),
        std::sync::Arc::new(server.clock.clone()),
        AuthenticatorConfig::default(),
    )
    .unwrap();
    let uri = server.enrollment_uri(user_id).await;
    let android = ciba_core::protocol::DeviceInfo {
        platform: ciba_core::protocol::Platform::Android,
        ..device_info()
    };
    let account = sdk
        .enroll(&uri, android, PushRegistration::none())
        .await
        .unwrap();
    let attestation = account.attestation.unwrap();
    assert_eq!(
        (attestation.status.as_str(), attestation.reason.as_deref()),
        ("unverified", Some("key_mismatch"))
    );
    let (challenge, client_data_hash) = store.seen.lock().unwrap().clone().unwrap();
    let code = enrollment_code(&uri);
    assert_eq!(
        challenge,
        ciba_core::protocol::attestation_challenge(&code).to_vec()
    );
    let jkt = {
        let signer = sdk.signer(&account.id).unwrap();
        ciba_core::jose::Signer::public_jwk(&signer)
            .thumbprint()
            .unwrap()
    };
    assert_eq!(
        client_data_hash,
        ciba_core::protocol::app_attest_client_data_hash(&code, &jkt).to_vec()
    );
    let device = &devices_of(&server, user_id).await[0];
    assert_eq!(device["attestation"]["format"], "android-key");
}

/// Software keys where a key created with biometric user verification behaves as Android's does:
/// it refuses to sign until the user authenticated (`UserAuthenticationRequired`), and a change
/// of biometrics invalidates it for good.
#[derive(Default)]
struct BiometricKeyStore {
    keys: std::sync::OnceLock<ciba_core::authenticator::SoftwareKeyStore>,
    biometric: std::sync::Mutex<Vec<String>>,
    authenticated: std::sync::atomic::AtomicBool,
    invalidated: std::sync::atomic::AtomicBool,
}

impl BiometricKeyStore {
    fn keys(&self) -> &ciba_core::authenticator::SoftwareKeyStore {
        self.keys
            .get_or_init(ciba_core::authenticator::SoftwareKeyStore::in_memory)
    }
    fn gated(&self, alias: &str) -> bool {
        self.biometric.lock().unwrap().iter().any(|a| a == alias)
    }
}

impl ciba_core::authenticator::KeyStore for BiometricKeyStore {
    fn create_key(
        &self,
        alias: String,
        options: ciba_core::authenticator::KeyOptions,
    ) -> Result<Vec<u8>, ciba_core::authenticator::KeyStoreError> {
        if options.user_verification == ciba_core::authenticator::UserVerification::Biometric {
            self.biometric.lock().unwrap().push(alias.clone());
        }
        self.keys().create_key(alias, options)
    }
    fn public_key(
        &self,
        alias: String,
    ) -> Result<Vec<u8>, ciba_core::authenticator::KeyStoreError> {
        self.keys().public_key(alias)
    }
    fn sign(
        &self,
        alias: String,
        data: Vec<u8>,
    ) -> Result<ciba_core::authenticator::KeySignature, ciba_core::authenticator::KeyStoreError>
    {
        use std::sync::atomic::Ordering;
        if self.gated(&alias) {
            if self.invalidated.load(Ordering::SeqCst) {
                return Err(ciba_core::authenticator::KeyStoreError::KeyInvalidated(
                    alias,
                ));
            }
            if !self.authenticated.swap(false, Ordering::SeqCst) {
                return Err(
                    ciba_core::authenticator::KeyStoreError::UserAuthenticationRequired(alias),
                );
            }
        }
        self.keys().sign(alias, data)
    }
    fn delete_key(&self, alias: String) -> Result<(), ciba_core::authenticator::KeyStoreError> {
        self.keys().delete_key(alias)
    }
    fn has_key(&self, alias: String) -> Result<bool, ciba_core::authenticator::KeyStoreError> {
        if self.gated(&alias) && self.invalidated.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(false);
        }
        self.keys().has_key(alias)
    }
}

#[tokio::test]
async fn an_approval_key_signs_approvals_behind_biometrics_while_background_work_goes_on() {
    use ciba_core::authenticator::{
        AccountState, AccountStore, Authenticator, AuthenticatorConfig, AuthenticatorError,
        EnrollOptions, KeyOptions, MemoryAccountStore, UserVerification,
    };
    use std::sync::atomic::Ordering;
    let server = TestServer::start().await;
    let user = server.create_user("bea").await;
    let user_id = user["id"].as_str().unwrap();
    let client = server.create_client(json!({})).await;
    let keys = std::sync::Arc::new(BiometricKeyStore::default());
    let accounts = std::sync::Arc::new(MemoryAccountStore::new());
    let sdk = Authenticator::new(
        accounts.clone(),
        keys.clone(),
        std::sync::Arc::new(server.clock.clone()),
        AuthenticatorConfig::default(),
    )
    .unwrap();
    let uri = server.enrollment_uri(user_id).await;
    let options = EnrollOptions {
        approval_key: Some(KeyOptions {
            user_verification: UserVerification::Biometric,
            prefer_secure_hardware: true,
        }),
        ..EnrollOptions::default()
    };
    let account = sdk
        .enroll_with(&uri, device_info(), PushRegistration::none(), options)
        .await
        .unwrap();
    let approval_alias = account.approval_key_alias.clone().unwrap();
    assert_ne!(approval_alias, account.key_alias);
    assert!(keys.gated(&approval_alias) && !keys.gated(&account.key_alias));
    assert_eq!(
        account
            .approval_attestation
            .as_ref()
            .map(|a| a.status.as_str()),
        Some("none")
    );
    let device = &devices_of(&server, user_id).await[0];
    assert_eq!(
        device["approval_key"],
        json!({"amr": ["swk"], "attestation": {"status": "none"}})
    );

    // Background work (the DPoP-signed fetch a push handler does) needs no user.
    let auth_req_id = server.start_ciba(&client, "bea").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    // Approving without the user authenticating first: a typed error, nothing sent.
    assert_eq!(
        sdk.approve(&txn, vec!["face".into()]).await.unwrap_err(),
        AuthenticatorError::UserAuthenticationRequired
    );
    // An approval signed by the device key instead is refused by the server.
    let mut downgraded = account.clone();
    downgraded.approval_key_alias = None;
    accounts.save(downgraded).unwrap();
    let err = sdk.approve(&txn, vec!["face".into()]).await.unwrap_err();
    assert!(
        err.to_string().contains("approvals must be signed by it"),
        "{err}"
    );
    accounts.save(account.clone()).unwrap();
    // The user authenticates (BiometricPrompt), then the approval goes through.
    keys.authenticated.store(true, Ordering::SeqCst);
    sdk.approve(&txn, vec!["face".into()]).await.unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(
        jwt_claims(tokens.body["id_token"].as_str().unwrap())["amr"],
        json!(["swk"])
    );

    // What an attested biometric-bound approval key would have stored decides amr: the
    // device key's own (unattested) trust does not.
    let device_id = device["device_id"].as_str().unwrap();
    server
        .execute_sql(
            "UPDATE devices SET approval_attestation = $1 WHERE id = $2",
            &[&biometric_key_facts("tee").to_string(), device_id],
        )
        .await;
    let auth_req_id = server.start_ciba(&client, "bea").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    keys.authenticated.store(true, Ordering::SeqCst);
    sdk.approve(&txn, vec!["face".into()]).await.unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(
        jwt_claims(tokens.body["id_token"].as_str().unwrap())["amr"],
        json!(["hwk", "user", "mfa"])
    );
    // Denying needs no biometrics: the device key signs it.
    let auth_req_id = server.start_ciba(&client, "bea").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.deny(&txn, ciba_core::protocol::DenyReason::UserDeclined)
        .await
        .unwrap();
    server.clock.advance(5);
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "access_denied"
    );

    // New biometrics enrolled: the approval key is gone for good.
    keys.invalidated.store(true, Ordering::SeqCst);
    let auth_req_id = server.start_ciba(&client, "bea").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        sdk.approve(&txn, vec!["face".into()]).await.unwrap_err(),
        AuthenticatorError::KeyInvalidated
    );
    assert_eq!(
        sdk.account_status(&account.id).await.unwrap(),
        AccountState::NeedsReenrollment
    );
    let _ = auth_req_id;
}

#[tokio::test]
async fn acr_values_name_levels_the_users_devices_must_meet() {
    use ciba_server::config::AcrLevel;
    let server = TestServer::start_with(|s| {
        s.attestation.acr_levels = vec![
            AcrLevel {
                value: "urn:bank:acr:enrolled".into(),
                amr: Vec::new(),
            },
            AcrLevel {
                value: "urn:bank:acr:hwk-uv".into(),
                amr: vec!["hwk".into(), "user".into()],
            },
        ];
    })
    .await;
    let (discovery_status, discovery) = json_answer(
        server
            .http
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(discovery_status, 200);
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["urn:bank:acr:enrolled", "urn:bank:acr:hwk-uv"])
    );
    let (user, sdk, account) = server.user_with_device("ada").await;
    let user_id = user["id"].as_str().unwrap();
    let client = server.create_client(json!({})).await;
    let ask = |acr: &'static str| {
        let server = &server;
        let client = &client;
        async move {
            server
                .backchannel(
                    client,
                    &[
                        ("scope", "openid"),
                        ("login_hint", "ada"),
                        ("acr_values", acr),
                    ],
                )
                .await
        }
    };
    // A software key cannot meet the hardware level; an unknown value means nothing here.
    for (acr, why) in [
        ("urn:bank:acr:hwk-uv", "no active device of the user meets"),
        ("urn:other:acr", "no authentication context"),
    ] {
        let answer = ask(acr).await;
        assert_eq!(answer.error(), "invalid_request", "{acr}");
        assert!(
            answer.body["error_description"]
                .as_str()
                .unwrap()
                .contains(why),
            "{}",
            answer.body
        );
    }
    assert!(
        sdk.pending().await.unwrap().is_empty(),
        "nothing was stored"
    );

    // The first requested level a device meets is chosen, shown, and stated in the tokens.
    let answer = ask("urn:bank:acr:hwk-uv urn:bank:acr:enrolled").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(txn.view.acr_values, ["urn:bank:acr:enrolled"]);
    sdk.approve(&txn, vec!["face".into()]).await.unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    for token in ["id_token", "access_token"] {
        let claims = jwt_claims(tokens.body[token].as_str().unwrap());
        assert_eq!(claims["acr"], "urn:bank:acr:enrolled", "{token}");
    }

    // With verified facts that meet it, the hardware level is granted; when the device stops
    // meeting it before approving (a new key has no attestation), the approval is refused.
    let device_id = devices_of(&server, user_id).await[0]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .execute_sql(
            "UPDATE devices SET attestation = $1 WHERE id = $2",
            &[&biometric_key_facts("strongbox").to_string(), &device_id],
        )
        .await;
    let answer = ask("urn:bank:acr:hwk-uv").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(txn.view.acr_values, ["urn:bank:acr:hwk-uv"]);
    sdk.rotate_key(&account.id).await.unwrap();
    let err = sdk.approve(&txn, vec!["face".into()]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot meet the acr urn:bank:acr:hwk-uv"),
        "{err}"
    );
    // Declining is still possible.
    sdk.deny(&txn, ciba_core::protocol::DenyReason::UserDeclined)
        .await
        .unwrap();
}
