//! The verifiers against real attestation samples (tests/fixtures/attestation, provenance in its
//! README), with "now" pinned to each sample's `valid_at`. The expected verdicts are the ones
//! the fixtures' README states; no sample here was made up.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use x509_parser::prelude::FromDer;

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/attestation")
}

fn sample_json(kind: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(kind).join(name).join("sample.json"))
        .expect("sample.json");
    serde_json::from_str(&text).expect("sample.json is JSON")
}

/// The chain of a sample as concatenated DER (what the SDK sends, base64url-encoded).
fn android_chain(name: &str) -> Vec<u8> {
    let pem = std::fs::read(fixtures().join("android").join(name).join("chain.pem")).unwrap();
    x509_parser::pem::Pem::iter_from_buffer(&pem)
        .flat_map(|p| p.unwrap().contents)
        .collect()
}

fn leaf_point(chain: &[u8]) -> Vec<u8> {
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(chain).unwrap();
    leaf.public_key().subject_public_key.data.to_vec()
}

fn test_policy() -> Policy {
    let mut policy = Policy::from_settings(&AttestationSettings {
        policy: AttestationMode::Required,
        ..Default::default()
    })
    .unwrap();
    policy.android.require_verified_boot = false;
    policy
}

struct AndroidCase {
    chain: Vec<u8>,
    challenge: Vec<u8>,
    point: Vec<u8>,
    now: i64,
}

fn android_case(name: &str) -> AndroidCase {
    let sample = sample_json("android", name);
    let chain = android_chain(name);
    AndroidCase {
        point: leaf_point(&chain),
        challenge: STANDARD
            .decode(sample["challenge_b64"].as_str().unwrap())
            .unwrap(),
        now: sample["valid_at"].as_i64().unwrap_or(1_700_000_000),
        chain,
    }
}

fn verify_android(case: &AndroidCase, policy: &Policy) -> Result<Verified, Refusal> {
    let attestation = Attestation {
        format: ANDROID_KEY.into(),
        data: URL_SAFE_NO_PAD.encode(&case.chain),
    };
    policy.verify(
        &attestation,
        Platform::Android,
        &Expected {
            challenge: &case.challenge,
            public_point: &case.point,
            jkt: "unused-for-android",
            now: case.now,
        },
    )
}

const ANDROID_ACCEPTED: [(&str, SecurityLevel, bool); 10] = [
    (
        "pixel9a-tegu-sdk36-keymint4-tee-ec-2026root",
        SecurityLevel::Tee,
        true,
    ),
    (
        "pixel9a-tegu-sdk36-keymint3-strongbox-ec-2026root",
        SecurityLevel::StrongBox,
        true,
    ),
    (
        "pixel9a-tegu-sdk37-keymint5-tee-ec-usagecount",
        SecurityLevel::Tee,
        false,
    ),
    (
        "pixel9pro-caiman-sdk36-keymint4-tee-ec-rkp",
        SecurityLevel::Tee,
        true,
    ),
    (
        "pixel9pro-caiman-sdk36-keymint3-strongbox-ec-rkp",
        SecurityLevel::StrongBox,
        true,
    ),
    (
        "pixel8a-akita-sdk34-keymint3-tee-ec-rkp",
        SecurityLevel::Tee,
        false,
    ),
    (
        "pixel3-blueline-sdk28-km4-tee-ec-factory",
        SecurityLevel::Tee,
        false,
    ),
    (
        "sony-xperia10iii-sdk33-km41-tee-ec-factory",
        SecurityLevel::Tee,
        true,
    ),
    (
        "aosp-avf-test-km4-tee-ec-player456",
        SecurityLevel::Tee,
        true,
    ),
    ("google-aka-keymint2-tee-ec-rkp", SecurityLevel::Tee, true),
];

#[test]
fn every_real_android_hardware_sample_verifies_at_its_time() {
    let policy = test_policy();
    for (name, level, locked_and_verified) in ANDROID_ACCEPTED {
        let case = android_case(name);
        let verified = verify_android(&case, &policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(verified.hardware_key, "{name}");
        assert_eq!(verified.security_level, Some(level), "{name}");
        assert_eq!(verified.verified_boot, Some(locked_and_verified), "{name}");
        let sample = sample_json("android", name);
        let package = sample["expected"]["attestationApplicationId"]["packages"][0]["name"]
            .as_str()
            .unwrap();
        assert_eq!(verified.app_id.as_deref(), Some(package), "{name}");
        // None of these keys requires user authentication: no user-verification fact.
        assert_eq!(verified.user_verification, None, "{name}");
        assert_eq!(DeviceTrust::Verified(verified).amr(), ["hwk"], "{name}");
    }
}

#[test]
fn the_non_canonical_device_locked_boolean_reads_as_true() {
    let case = android_case("edge-keyattestation-malformed-rot-device-locked");
    let verified = verify_android(&case, &test_policy()).unwrap();
    assert_eq!(verified.verified_boot, Some(true));
}

#[test]
fn a_boot_policy_refuses_unlocked_and_unverified_devices() {
    let mut policy = test_policy();
    policy.android.require_verified_boot = true;
    for (name, _, locked_and_verified) in ANDROID_ACCEPTED {
        let result = verify_android(&android_case(name), &policy);
        if locked_and_verified {
            assert!(result.is_ok(), "{name}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(Refusal::VerifiedBoot(_))),
                "{name}: {result:?}"
            );
        }
    }
    let unlocked = android_case("neg-google-aka-tee-ec-unlocked-unverified");
    assert!(matches!(
        verify_android(&unlocked, &policy),
        Err(Refusal::VerifiedBoot(_))
    ));
    // Its chain (to the 2016 root) is fine: only the boot policy refuses it.
    assert!(verify_android(&unlocked, &test_policy()).is_ok());
}

#[test]
fn software_attestation_foreign_roots_and_broken_signatures_are_refused() {
    let policy = test_policy();
    for (name, expect) in [
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
    ] {
        let refusal = verify_android(&android_case(name), &policy).unwrap_err();
        assert_eq!(refusal.code(), expect, "{name}: {refusal}");
    }
    // The emulator's chain: no instant is valid for all of it, and its root is a software root.
    let mut emulator = android_case("neg-aosp-virtual-device-software-ec");
    for now in [0, 1_600_000_000, 1_780_000_000] {
        emulator.now = now;
        assert!(verify_android(&emulator, &policy).is_err());
    }
    // With the AOSP software root trusted (never do this), the marlin chain passes the chain
    // check and is refused for what it is: a software attestation.
    let mut trusting_software = test_policy();
    trusting_software.android.roots = Anchors::from_pem(
        &std::fs::read_to_string(
            fixtures().join("roots/aosp-software-attestation-root-ec.NOT-A-TRUST-ANCHOR.pem"),
        )
        .unwrap(),
    )
    .unwrap();
    let refusal = verify_android(
        &android_case("neg-marlin-sdk29-km1-software-attested-ec"),
        &trusting_software,
    )
    .unwrap_err();
    assert_eq!(refusal.code(), "security_level", "{refusal}");
}

#[test]
fn android_negative_cases_derived_from_real_samples() {
    let policy = test_policy();
    let name = "pixel9a-tegu-sdk36-keymint4-tee-ec-2026root";

    let mut case = android_case(name);
    case.challenge = b"6417f92c-daef-4cc1-8828-5bb39338ffd6".to_vec();
    assert_eq!(
        verify_android(&case, &policy),
        Err(Refusal::ChallengeMismatch)
    );

    let mut case = android_case(name);
    case.point = leaf_point(&android_chain("pixel9pro-caiman-sdk36-keymint4-tee-ec-rkp"));
    assert_eq!(verify_android(&case, &policy), Err(Refusal::KeyMismatch));

    // Expired: the RKP intermediates lived a few weeks.
    let mut case = android_case(name);
    case.now = 1_796_083_200; // 2026-12-01
    assert_eq!(
        verify_android(&case, &policy).unwrap_err().code(),
        "expired"
    );

    // A tampered leaf: one byte inside the KeyDescription's challenge.
    let mut case = android_case(name);
    let at = case
        .chain
        .windows(case.challenge.len())
        .position(|w| w == case.challenge.as_slice())
        .unwrap();
    case.chain[at] ^= 1;
    case.challenge[0] ^= 1;
    assert_eq!(
        verify_android(&case, &policy).unwrap_err().code(),
        "untrusted_chain"
    );

    // The leaf alone, and the chain without its root's intermediates.
    let full = android_case(name);
    let certs = chain::parse_concatenated(&full.chain).unwrap();
    let ders: Vec<&[u8]> = certs.iter().map(|c| c.as_raw()).collect();
    for kept in [vec![0], vec![0, 2, 3, 4], vec![1, 0, 2, 3, 4]] {
        let mut case = android_case(name);
        case.chain = kept.iter().flat_map(|&i| ders[i].to_vec()).collect();
        assert_eq!(
            verify_android(&case, &policy).unwrap_err().code(),
            "untrusted_chain",
            "{kept:?}"
        );
    }

    // A StrongBox-only policy refuses TEE keys; a policy with a package list refuses others.
    let mut strongbox_only = test_policy();
    strongbox_only.android.security_levels = vec![SecurityLevel::StrongBox];
    assert_eq!(
        verify_android(&android_case(name), &strongbox_only)
            .unwrap_err()
            .code(),
        "security_level"
    );
    assert!(
        verify_android(
            &android_case("pixel9a-tegu-sdk36-keymint3-strongbox-ec-2026root"),
            &strongbox_only
        )
        .is_ok()
    );
    let mut one_app = test_policy();
    one_app.android.apps = vec![AndroidApp {
        package: "com.google.android.attestation".into(),
        signing_cert_sha256: vec![
            "103938ee4537e59e8ee792f654504fb8346fc6b346d0bbc4415fc339fcfc8ec1".into(),
        ],
    }];
    assert!(verify_android(&android_case(name), &one_app).is_ok());
    one_app.android.apps[0].signing_cert_sha256 = vec!["00".repeat(32)];
    assert_eq!(
        verify_android(&android_case(name), &one_app)
            .unwrap_err()
            .code(),
        "app_identity"
    );
    one_app.android.apps = vec![AndroidApp {
        package: "org.openciba.sample".into(),
        signing_cert_sha256: Vec::new(),
    }];
    assert_eq!(
        verify_android(&android_case(name), &one_app)
            .unwrap_err()
            .code(),
        "app_identity"
    );
}

#[test]
fn an_rsa_key_with_user_authentication_is_not_the_enrolled_p256_key() {
    // The only real chained sample with userAuthType set is RSA: it parses, and it is refused
    // because the protocol's keys are P-256.
    let case = android_case("pixel8a-akita-sdk34-keymint3-tee-rsa-userauth");
    assert_eq!(
        verify_android(&case, &test_policy()),
        Err(Refusal::KeyMismatch)
    );
    let certs = chain::parse_concatenated(&case.chain).unwrap();
    let description = android::parse_key_description(
        certs[0]
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.1.17")
            .unwrap()
            .value,
    )
    .unwrap();
    assert_eq!(description.hardware.user_auth_type, Some(1));
    assert!(!description.hardware.no_auth_required);
}

#[test]
fn a_revoked_intermediate_is_refused() {
    let name = "pixel9a-tegu-sdk36-keymint4-tee-ec-2026root";
    let case = android_case(name);
    let certs = chain::parse_concatenated(&case.chain).unwrap();
    let serial = chain::serial_hex(&certs[2]);
    let list = format!(
        r#"{{"entries": {{"{}": {{"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}}}}"#,
        serial.to_uppercase()
    );
    let mut policy = test_policy();
    policy.android.revoked = parse_status_list(&list).unwrap();
    assert_eq!(
        verify_android(&case, &policy).unwrap_err().code(),
        "revoked"
    );
    assert!(parse_status_list("{}").is_err());
}

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

struct AppleCase {
    object: Vec<u8>,
    client_data: Vec<u8>,
    app_id: String,
    environment: AppleEnvironment,
    now: i64,
}

fn apple_case(name: &str) -> AppleCase {
    let sample = sample_json("apple", name);
    AppleCase {
        object: std::fs::read(fixtures().join("apple").join(name).join("attestation.cbor"))
            .unwrap(),
        client_data: STANDARD
            .decode(sample["client_data_b64"].as_str().unwrap())
            .unwrap(),
        app_id: sample["app_id"].as_str().unwrap().to_owned(),
        environment: if sample["environment"] == "production" {
            AppleEnvironment::Production
        } else {
            AppleEnvironment::Development
        },
        now: sample["valid_at"].as_i64().unwrap(),
    }
}

fn verify_apple(case: &AppleCase, policy: &Policy) -> Result<Verified, Refusal> {
    let mut policy = policy.clone();
    if policy.apple.apps.is_empty() {
        policy.apple.apps = vec![case.app_id.clone()];
    }
    policy.apple.environment = case.environment;
    // The samples' apps hashed their own client data; ours is challenge ‖ jkt, so the sample's
    // bytes stand in as the challenge with an empty jkt.
    policy.verify(
        &Attestation {
            format: APPLE_APP_ATTEST.into(),
            data: URL_SAFE_NO_PAD.encode(&case.object),
        },
        Platform::Ios,
        &Expected {
            challenge: &case.client_data,
            public_point: &[],
            jkt: "",
            now: case.now,
        },
    )
}

#[test]
fn every_real_app_attest_sample_verifies_at_its_time() {
    let policy = test_policy();
    for name in &apple_samples() {
        let case = apple_case(name);
        let verified = verify_apple(&case, &policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.app_id.as_deref(), Some(case.app_id.as_str()));
        assert_eq!(
            verified.environment.as_deref(),
            Some(case.environment.as_str())
        );
        // App Attest proves the app, not where the device key lives.
        assert!(!verified.hardware_key);
        assert_eq!(DeviceTrust::Verified(verified).amr(), ["swk"]);
    }
}

#[test]
fn app_attest_negative_cases_derived_from_real_samples() {
    let policy = test_policy();
    let name = "veehaitch-ios-14.2-development";

    let mut case = apple_case(name);
    case.client_data.push(b'!');
    assert_eq!(
        verify_apple(&case, &policy),
        Err(Refusal::ChallengeMismatch)
    );

    let mut other_app = policy.clone();
    other_app.apple.apps = vec!["6MURL8TA57.de.vincent-haupert.other".into()];
    assert_eq!(
        verify_apple(&apple_case(name), &other_app)
            .unwrap_err()
            .code(),
        "app_identity"
    );

    let mut case = apple_case(name);
    case.environment = AppleEnvironment::Production;
    assert_eq!(
        verify_apple(&case, &policy).unwrap_err().code(),
        "app_identity"
    );
    let mut case = apple_case("appattest-rs-gandalf-2024-production");
    case.environment = AppleEnvironment::Development;
    assert_eq!(
        verify_apple(&case, &policy).unwrap_err().code(),
        "app_identity"
    );

    let mut case = apple_case(name);
    case.now = 1_796_083_200; // 2026-12-01: the 3-day leaf has long expired
    assert_eq!(verify_apple(&case, &policy).unwrap_err().code(), "expired");

    // Against the Google roots the chain does not verify.
    let mut google = policy.clone();
    google.apple.roots = google.android.roots.clone();
    assert_eq!(
        verify_apple(&apple_case(name), &google).unwrap_err().code(),
        "untrusted_chain"
    );

    // A tampered object.
    let mut case = apple_case(name);
    let len = case.object.len();
    case.object.truncate(len - 1);
    assert_eq!(
        verify_apple(&case, &policy).unwrap_err().code(),
        "malformed"
    );

    // The wrong platform, an unknown format, data that is not base64url.
    let expected = Expected {
        challenge: b"x",
        public_point: &[],
        jkt: "",
        now: 0,
    };
    for (format, data, platform, code) in [
        (APPLE_APP_ATTEST, "AAAA", Platform::Android, "malformed"),
        (ANDROID_KEY, "AAAA", Platform::Ios, "malformed"),
        ("tpm", "AAAA", Platform::Android, "unsupported"),
        (ANDROID_KEY, "not base64!", Platform::Android, "malformed"),
        (ANDROID_KEY, "", Platform::Android, "malformed"),
    ] {
        let a = Attestation {
            format: format.into(),
            data: data.into(),
        };
        assert_eq!(
            policy.verify(&a, platform, &expected).unwrap_err().code(),
            code,
            "{format} {data}"
        );
    }
}

#[test]
fn the_policy_mode_decides_what_a_failure_means() {
    let garbage = Attestation {
        format: ANDROID_KEY.into(),
        data: "Z2FyYmFnZQ".into(),
    };
    let expected = Expected {
        challenge: b"x",
        public_point: &[],
        jkt: "",
        now: 0,
    };
    let mut policy = test_policy();
    policy.mode = AttestationMode::Required;
    assert_eq!(
        policy.assess(None, Platform::Android, &expected),
        Err(Refusal::Missing)
    );
    assert_eq!(
        policy
            .assess(Some(&garbage), Platform::Android, &expected)
            .unwrap_err()
            .code(),
        "malformed"
    );
    policy.mode = AttestationMode::Optional;
    assert_eq!(
        policy.assess(None, Platform::Android, &expected),
        Ok(DeviceTrust::None)
    );
    let unverified = policy
        .assess(Some(&garbage), Platform::Android, &expected)
        .unwrap();
    assert_eq!(unverified.status(), "unverified");
    assert_eq!(unverified.amr(), ["swk"]);
    policy.mode = AttestationMode::None;
    assert!(matches!(
        policy.assess(Some(&garbage), Platform::Android, &expected),
        Ok(DeviceTrust::Unverified { reason, .. }) if reason == "not_checked"
    ));
}

#[test]
fn amr_states_user_verification_only_when_enforced_on_every_use() {
    let verified = |uv: Option<UserVerification>| {
        DeviceTrust::Verified(Verified {
            format: ANDROID_KEY.into(),
            hardware_key: true,
            security_level: Some(SecurityLevel::StrongBox),
            user_verification: uv,
            verified_boot: Some(true),
            app_id: None,
            app_signers: Vec::new(),
            environment: None,
            attestation_version: Some(300),
        })
    };
    let per_use = UserVerification {
        biometric: true,
        device_credential: false,
        per_use: true,
    };
    assert_eq!(verified(Some(per_use)).amr(), ["hwk", "user", "mfa"]);
    assert_eq!(
        verified(Some(UserVerification {
            per_use: false,
            ..per_use
        }))
        .amr(),
        ["hwk"]
    );
    let stored = serde_json::to_string(&verified(Some(per_use))).unwrap();
    assert_eq!(
        DeviceTrust::from_stored(Some(&stored)),
        verified(Some(per_use))
    );
    assert_eq!(DeviceTrust::from_stored(Some("{")), DeviceTrust::None);
    assert_eq!(DeviceTrust::None.amr(), ["swk"]);
}

#[test]
fn the_shipped_roots_are_the_fixtures_roots() {
    // The embedded defaults are byte for byte the published roots (provenance in the fixtures).
    let all = std::fs::read_to_string(fixtures().join("roots/google-hw-attestation-roots-all.pem"))
        .unwrap();
    assert_eq!(GOOGLE_ROOTS, all);
    let apple = std::fs::read_to_string(fixtures().join("roots/apple-app-attestation-root-ca.pem"))
        .unwrap();
    assert_eq!(APPLE_ROOT, apple);
    assert_eq!(Anchors::from_pem(GOOGLE_ROOTS).unwrap().len(), 5);
    assert!(Anchors::from_pem("").is_err());
}

#[test]
fn the_server_and_the_sdk_derive_the_same_challenge_and_client_data_hash() {
    let code = "K2p9V7dY3mQxR8sT1uW4zA";
    assert_eq!(
        challenge(code),
        ciba_core::protocol::attestation_challenge(code)
    );
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let ours: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(apple::client_data(&challenge(code), jkt)).into()
    };
    assert_eq!(
        ours,
        ciba_core::protocol::app_attest_client_data_hash(code, jkt)
    );
    assert_ne!(challenge(code), challenge("another code"));
}

#[test]
fn a_lone_certificate_carrying_a_root_key_is_not_a_chain() {
    // Anyone can write a certificate with a trusted root's public key: alone, or not signed by
    // that key, it is refused. The real root certificate alone is refused too.
    let roots =
        std::fs::read_to_string(fixtures().join("roots/google-hw-attestation-root-rsa-2019.pem"))
            .unwrap();
    let pem = x509_parser::pem::Pem::iter_from_buffer(roots.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let certs = chain::parse_concatenated(&pem.contents).unwrap();
    let anchors = Anchors::from_pem(GOOGLE_ROOTS).unwrap();
    assert_eq!(
        chain::verify(&certs, &anchors, 1_700_000_000)
            .unwrap_err()
            .code(),
        "untrusted_chain"
    );
    // A full real chain ending at that root still verifies.
    let case = android_case("aosp-avf-test-km4-tee-ec-player456");
    let certs = chain::parse_concatenated(&case.chain).unwrap();
    assert!(chain::verify(&certs, &anchors, case.now).is_ok());
}
