//! Device trust at enrollment (DEVICE-PROTOCOL.md §3.1): what the server *proves* about a
//! device's key and app, from Android Key Attestation or Apple App Attest, under the operator's
//! policy. The result is stored with the device and is the only source of `amr` in its tokens;
//! what the app claims about itself stays a claim in the audit log.
//!
//! The verifiers are pure functions of (attestation bytes, expected challenge and key, policy,
//! now): no I/O, no clock of their own, so the tests pin "now" to each real sample's time.

mod android;
mod apple;
mod cbor;
mod chain;
mod der;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciba_core::protocol::{Attestation, Platform};
use serde::{Deserialize, Serialize};

pub use crate::config::{AppleEnvironment, AttestationMode, AttestationSettings, SecurityLevel};

pub use chain::Anchors;

pub const ANDROID_KEY: &str = "android-key";
pub const APPLE_APP_ATTEST: &str = "apple-app-attest";

/// The roots shipped by default: Google's hardware attestation roots (the RSA key in its four
/// certificates and the 2026 ECDSA P-384 "Key Attestation CA1") and the Apple App Attestation
/// Root CA. Provenance: `server/src/attestation/roots/README.md`.
const GOOGLE_ROOTS: &str = include_str!("roots/google-hardware-attestation-roots.pem");
const APPLE_ROOT: &str = include_str!("roots/apple-app-attestation-root-ca.pem");

/// The most attestation data we decode (a 7-certificate Android chain is about 5 KiB; an App
/// Attest object with its receipt about 6 KiB).
pub const MAX_DATA_BYTES: usize = 32 * 1024;

/// The attestation challenge of an enrollment: `SHA-256("ciba-attestation-v1" ‖ 0x00 ‖ code)`
/// (the SDK computes the same, `ciba_core::protocol::attestation_challenge`). The code is the
/// server's ≥ 128-bit single-use secret, so the challenge is issued by the server, unique to the
/// enrollment, and costs the device no extra round trip.
pub fn challenge(code: &str) -> [u8; 32] {
    ciba_core::protocol::attestation_challenge(code)
}

/// Why an attestation does not prove what it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no attestation was sent and the policy requires one")]
    Missing,
    #[error("the attestation is malformed: {0}")]
    Malformed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the attestation chain is not trusted: {0}")]
    UntrustedChain(String),
    #[error("the attestation chain is expired or not yet valid: {0}")]
    Expired(String),
    #[error("{0}")]
    Revoked(String),
    #[error("the attestation was not made for this enrollment's challenge")]
    ChallengeMismatch,
    #[error("the attested key is not the enrolled P-256 signing key")]
    KeyMismatch,
    #[error("{0}")]
    SecurityLevel(String),
    #[error("{0}")]
    VerifiedBoot(String),
    #[error("{0}")]
    AppIdentity(String),
}

impl Refusal {
    /// A stable short name, for the audit log, the admin API and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Unsupported(_) => "unsupported",
            Self::UntrustedChain(_) => "untrusted_chain",
            Self::Expired(_) => "expired",
            Self::Revoked(_) => "revoked",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::KeyMismatch => "key_mismatch",
            Self::SecurityLevel(_) => "security_level",
            Self::VerifiedBoot(_) => "verified_boot",
            Self::AppIdentity(_) => "app_identity",
        }
    }
}

/// User verification the secure hardware enforces on the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserVerification {
    pub biometric: bool,
    pub device_credential: bool,
    /// Authentication for every use (no validity window after an unlock).
    pub per_use: bool,
}

/// What an attestation proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verified {
    pub format: String,
    /// The enrolled key itself is proven to live in secure hardware.
    pub hardware_key: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<SecurityLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
    /// Locked bootloader and verified boot (Android).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_boot: Option<bool>,
    /// The attesting app: an Android package name or an Apple `TEAMID.bundle.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// SHA-256 of the Android app's signing certificates (hex).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_signers: Vec<String>,
    /// App Attest environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_version: Option<i64>,
}

/// A device's trust, as stored with it and shown by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceTrust {
    /// No attestation was sent (or the device was enrolled before attestation was checked).
    #[default]
    None,
    /// An attestation was sent and did not prove what it must (policy `optional`), or was not
    /// checked (policy `none`).
    Unverified {
        format: String,
        reason: String,
        detail: String,
    },
    Verified(Verified),
}

impl DeviceTrust {
    pub fn status(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Unverified { .. } => "unverified",
            Self::Verified(_) => "verified",
        }
    }

    /// RFC 8176 `amr` values the server can state for a decision signed by this device's key:
    /// `hwk` only for a key attested to live in secure hardware, `swk` otherwise; `user` (a user
    /// presence/verification test) and `mfa` only when the hardware enforces user verification
    /// on every use of that key.
    pub fn amr(&self) -> Vec<String> {
        match self {
            Self::Verified(v) if v.hardware_key => {
                let mut amr = vec!["hwk".to_owned()];
                if v.user_verification.is_some_and(|u| u.per_use) {
                    amr.push("user".into());
                    amr.push("mfa".into());
                }
                amr
            }
            _ => vec!["swk".to_owned()],
        }
    }

    /// Parses the stored form; anything unreadable counts as no verified fact.
    pub fn from_stored(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// The authentication methods (RFC 8176) the server states for approvals by `device`, which are
/// what tokens carry: possession of the key that signs its approvals — the approval key when it
/// registered one (DEVICE-PROTOCOL.md §3.2), the device key otherwise — and what that key's
/// attestation proved (`hwk` for a key in secure hardware, `user` and `mfa` when the hardware
/// enforces user verification on every use; `swk` otherwise). What the app says about how it
/// verified the user is a claim, kept in the audit log and never copied into a token.
pub fn approval_amr(device: &crate::store::Device) -> Vec<String> {
    let trust = if device.approval_jwk.is_some() {
        device.approval_attestation.as_deref()
    } else {
        device.attestation.as_deref()
    };
    DeviceTrust::from_stored(trust).amr()
}

/// Whether approvals by a device whose verified `amr` is `amr` meet `level`.
pub fn meets(level: &crate::config::AcrLevel, amr: &[String]) -> bool {
    level.amr.iter().all(|m| amr.contains(m))
}

/// An allowed Android app.
#[derive(Debug, Clone)]
pub struct AndroidApp {
    pub package: String,
    /// Allowed signing-certificate digests (lowercase hex); empty: any signer.
    pub signing_cert_sha256: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AndroidPolicy {
    pub roots: Anchors,
    /// Serial (normalised hex) → status, from Google's attestation status list format.
    pub revoked: HashMap<String, String>,
    pub security_levels: Vec<SecurityLevel>,
    pub require_verified_boot: bool,
    pub apps: Vec<AndroidApp>,
}

#[derive(Debug, Clone)]
pub struct ApplePolicy {
    pub roots: Anchors,
    /// Allowed `TEAMID.bundle.id` values.
    pub apps: Vec<String>,
    pub environment: AppleEnvironment,
}

/// The operator's attestation policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mode: AttestationMode,
    pub android: AndroidPolicy,
    pub apple: ApplePolicy,
}

/// What the attestation must be about.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub challenge: &'a [u8],
    /// The enrolled key as an uncompressed P-256 point (`04 ‖ x ‖ y`).
    pub public_point: &'a [u8],
    pub jkt: &'a str,
    pub now: i64,
}

/// The format a device named, as recorded (bounded: it is the device's text).
pub fn claimed_format(attestation: &Attestation) -> String {
    attestation.format.chars().take(40).collect()
}

/// Reads Google's attestation status list (`https://android.googleapis.com/attestation/status`):
/// `{"entries": {"<hex serial>": {"status": "REVOKED" | "SUSPENDED", ...}}}`.
pub fn parse_status_list(text: &str) -> Result<HashMap<String, String>, String> {
    #[derive(Deserialize)]
    struct Entry {
        status: String,
    }
    #[derive(Deserialize)]
    struct List {
        entries: HashMap<String, Entry>,
    }
    let list: List =
        serde_json::from_str(text).map_err(|e| format!("not an attestation status list: {e}"))?;
    Ok(list
        .entries
        .into_iter()
        .map(|(serial, e)| {
            (
                chain::normalise_serial(&serial),
                e.status.to_ascii_lowercase(),
            )
        })
        .collect())
}

impl Policy {
    /// The policy the settings describe; reads the root and status-list files they name.
    pub fn from_settings(settings: &AttestationSettings) -> Result<Self, String> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let android = &settings.android;
        let android_roots = match &android.roots_file {
            Some(path) => Anchors::from_pem(&read(path)?)
                .map_err(|e| format!("attestation.android.roots_file: {e}"))?,
            None => Anchors::from_pem(GOOGLE_ROOTS)?,
        };
        let revoked = match &android.revocation_list_file {
            Some(path) => parse_status_list(&read(path)?)
                .map_err(|e| format!("attestation.android.revocation_list_file: {e}"))?,
            None => HashMap::new(),
        };
        let apple = &settings.apple;
        let apple_roots = match &apple.roots_file {
            Some(path) => Anchors::from_pem(&read(path)?)
                .map_err(|e| format!("attestation.apple.roots_file: {e}"))?,
            None => Anchors::from_pem(APPLE_ROOT)?,
        };
        Ok(Self {
            mode: settings.policy,
            android: AndroidPolicy {
                roots: android_roots,
                revoked,
                security_levels: android.security_levels.clone(),
                require_verified_boot: android.require_verified_boot,
                apps: android
                    .apps
                    .iter()
                    .map(|a| AndroidApp {
                        package: a.package.clone(),
                        signing_cert_sha256: a
                            .signing_cert_sha256
                            .iter()
                            .map(|d| d.replace(':', "").to_ascii_lowercase())
                            .collect(),
                    })
                    .collect(),
            },
            apple: ApplePolicy {
                roots: apple_roots,
                apps: apple.apps.clone(),
                environment: apple.environment,
            },
        })
    }

    /// Verifies one attestation (no policy mode applied).
    pub fn verify(
        &self,
        attestation: &Attestation,
        platform: Platform,
        expected: &Expected<'_>,
    ) -> Result<Verified, Refusal> {
        if attestation.data.len() > MAX_DATA_BYTES * 4 / 3 + 4 {
            return Err(Refusal::Malformed(
                "the attestation data is too large".into(),
            ));
        }
        let data = URL_SAFE_NO_PAD
            .decode(attestation.data.trim_end_matches('='))
            .map_err(|_| Refusal::Malformed("the attestation data is not base64url".into()))?;
        match (attestation.format.as_str(), platform) {
            (ANDROID_KEY, Platform::Android) => android::verify(&data, expected, &self.android),
            (APPLE_APP_ATTEST, Platform::Ios) => apple::verify(&data, expected, &self.apple),
            (ANDROID_KEY | APPLE_APP_ATTEST, _) => Err(Refusal::Malformed(format!(
                "a {} attestation from a device whose platform is {}",
                attestation.format,
                platform.as_str()
            ))),
            (other, _) => Err(Refusal::Unsupported(format!(
                "attestation format {other:?} is not supported (android-key, apple-app-attest)"
            ))),
        }
    }

    /// The policy's verdict on an enrollment: the trust to store, or the refusal that stops it.
    pub fn assess(
        &self,
        attestation: Option<&Attestation>,
        platform: Platform,
        expected: &Expected<'_>,
    ) -> Result<DeviceTrust, Refusal> {
        self.assess_as(self.mode, attestation, platform, expected)
    }

    /// The verdict on an approval key's attestation (DEVICE-PROTOCOL.md §3.2): `required`
    /// counts as `optional` — it only decides the `amr` of approvals, never refuses an
    /// enrollment.
    pub fn assess_approval_key(
        &self,
        attestation: Option<&Attestation>,
        platform: Platform,
        expected: &Expected<'_>,
    ) -> DeviceTrust {
        let mode = match self.mode {
            AttestationMode::Required => AttestationMode::Optional,
            other => other,
        };
        self.assess_as(mode, attestation, platform, expected)
            .unwrap_or_default()
    }

    fn assess_as(
        &self,
        mode: AttestationMode,
        attestation: Option<&Attestation>,
        platform: Platform,
        expected: &Expected<'_>,
    ) -> Result<DeviceTrust, Refusal> {
        match (mode, attestation) {
            (AttestationMode::None, Some(a)) => Ok(DeviceTrust::Unverified {
                format: claimed_format(a),
                reason: "not_checked".into(),
                detail: "attestation checking is off (attestation.policy = none)".into(),
            }),
            (AttestationMode::None | AttestationMode::Optional, None) => Ok(DeviceTrust::None),
            (AttestationMode::Required, None) => Err(Refusal::Missing),
            (mode, Some(a)) => match self.verify(a, platform, expected) {
                Ok(v) => Ok(DeviceTrust::Verified(v)),
                Err(refusal) if mode == AttestationMode::Optional => Ok(DeviceTrust::Unverified {
                    format: claimed_format(a),
                    reason: refusal.code().into(),
                    detail: refusal.to_string(),
                }),
                Err(refusal) => Err(refusal),
            },
        }
    }
}

#[cfg(test)]
mod tests;
