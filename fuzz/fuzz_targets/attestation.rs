//! `ciba_server::attestation::Policy::verify`: the key attestation a device sends at enrollment
//! (an Android Keystore certificate chain or an Apple App Attest CBOR object), with the
//! server's default roots. The first byte picks the format; the rest is the raw data (the
//! target base64url-encodes it as the device would).
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciba_core::protocol::{Attestation, Platform};
use ciba_server::attestation::{Expected, Policy};
use ciba_server::config::{AttestationMode, AttestationSettings};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let mut settings = AttestationSettings::default();
        settings.policy = AttestationMode::Required;
        settings.android.require_verified_boot = false;
        settings.apple.apps = vec!["6MURL8TA57.de.vincent-haupert.apple-appattest-poc".into()];
        Policy::from_settings(&settings).expect("the default roots load")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (format, platform) = if selector % 2 == 0 {
        ("android-key", Platform::Android)
    } else {
        ("apple-app-attest", Platform::Ios)
    };
    let attestation = Attestation {
        format: format.into(),
        data: URL_SAFE_NO_PAD.encode(rest),
    };
    // A key and challenge no real sample was made for, at a time when the samples were valid.
    let mut point = [7u8; 65];
    point[0] = 4;
    let expected = Expected {
        challenge: b"fuzzing challenge",
        public_point: &point,
        jkt: "fuzzing-jkt",
        now: 1_771_894_563,
    };
    // Nothing verifies for this enrollment: that needs a trusted root's signature over its
    // challenge and key.
    let result = policy().verify(&attestation, platform, &expected);
    assert!(result.is_err(), "verified: {result:?}");
    let refusal = result.unwrap_err();
    assert!(!refusal.code().is_empty() && !refusal.to_string().is_empty());
});
