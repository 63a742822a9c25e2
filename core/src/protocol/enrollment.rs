use serde::{Deserialize, Serialize};
use url::Url;

use super::ProtocolError;

/// The scheme of enrollment URIs (what the QR code or app link carries).
pub const ENROLLMENT_URI_SCHEME: &str = "ciba-enroll";

/// The longest enrollment URI the SDK reads, in bytes. A QR code holds at most 2 953 bytes and
/// a server's URI is its issuer and a 22-character code (about 60 bytes besides the issuer,
/// which the server bounds at [`MAX_ISSUER_BYTES`]): anything longer is refused before it is
/// parsed.
pub const MAX_ENROLLMENT_URI_BYTES: usize = 2048;

/// The longest issuer a server may have (its configuration check refuses a longer one), so that
/// its enrollment URIs, percent-encoded, stay within [`MAX_ENROLLMENT_URI_BYTES`].
pub const MAX_ISSUER_BYTES: usize = 512;

/// The longest enrollment code the SDK reads (the server's are 27 characters). With the issuer's
/// bound, any URI the SDK accepts formats back (every byte percent-encoded at worst) within
/// [`MAX_ENROLLMENT_URI_BYTES`].
pub const MAX_ENROLLMENT_CODE_BYTES: usize = 128;

/// A parsed enrollment URI: `ciba-enroll://v1?issuer=<percent-encoded issuer>&code=<code>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentUri {
    /// The issuer (base URL) of the server to enroll with.
    pub issuer: String,
    /// The single-use enrollment code.
    pub code: String,
}

impl EnrollmentUri {
    /// Parses an enrollment URI. Unknown query parameters are ignored (forward compatibility);
    /// a missing or empty `issuer` or `code`, another scheme or another version is an error.
    pub fn parse(uri: &str) -> Result<Self, ProtocolError> {
        let bad = |why: &str| ProtocolError::InvalidEnrollmentUri(why.to_owned());
        if uri.len() > MAX_ENROLLMENT_URI_BYTES {
            return Err(bad("longer than 2048 bytes"));
        }
        let url = Url::parse(uri.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != ENROLLMENT_URI_SCHEME {
            return Err(bad("the scheme is not ciba-enroll"));
        }
        if url.host_str() != Some("v1") {
            return Err(bad("unsupported version (expected ciba-enroll://v1)"));
        }
        let mut issuer = None;
        let mut code = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "issuer" if issuer.is_none() => issuer = Some(value.into_owned()),
                "code" if code.is_none() => code = Some(value.into_owned()),
                "issuer" | "code" => return Err(bad("a parameter is repeated")),
                _ => {}
            }
        }
        let issuer = issuer
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("issuer is missing"))?;
        let code = code
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("code is missing"))?;
        if issuer.len() > MAX_ISSUER_BYTES {
            return Err(bad("issuer is longer than 512 bytes"));
        }
        if code.len() > MAX_ENROLLMENT_CODE_BYTES {
            return Err(bad("code is longer than 128 bytes"));
        }
        let issuer_url = Url::parse(&issuer).map_err(|_| bad("issuer is not a URL"))?;
        if !matches!(issuer_url.scheme(), "https" | "http") {
            return Err(bad("issuer is not an http(s) URL"));
        }
        Ok(Self { issuer, code })
    }

    /// Formats the URI, percent-encoding the issuer and the code.
    pub fn to_uri_string(&self) -> String {
        let mut url = format!("{ENROLLMENT_URI_SCHEME}://v1?");
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("issuer", &self.issuer)
                .append_pair("code", &self.code)
                .finish(),
        );
        url
    }
}

/// The push channel a device registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PushProvider {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
    /// No push: the device only polls.
    None,
}

impl PushProvider {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fcm => "fcm",
            Self::Apns => "apns",
            Self::None => "none",
        }
    }
}

/// The APNs environment of a push token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PushEnvironment {
    /// Production APNs / FCM.
    #[default]
    Production,
    /// The APNs sandbox (development builds).
    Sandbox,
}

impl PushEnvironment {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
        }
    }
}

/// A device's push registration: `{"provider", "token", "environment"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRegistration {
    /// The provider, or `none` when the device only polls.
    pub provider: PushProvider,
    /// The provider's token for this app install (absent for `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The environment of the token (APNs); production when absent.
    #[serde(default)]
    pub environment: PushEnvironment,
}

impl PushRegistration {
    /// A device that only polls.
    pub fn none() -> Self {
        Self {
            provider: PushProvider::None,
            token: None,
            environment: PushEnvironment::Production,
        }
    }
}

/// The platform of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Android.
    Android,
    /// iOS / iPadOS.
    Ios,
    /// Anything else (the terminal authenticator, tests).
    Other,
}

impl Platform {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
            Self::Other => "other",
        }
    }
}

/// What the device says about itself at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    /// A name the user recognises ("Mark's Pixel 8").
    pub display_name: String,
    /// The platform.
    pub platform: Platform,
    /// The hardware model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The OS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The embedding app's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The SDK's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
}

/// Key attestation at enrollment (DEVICE-PROTOCOL.md §3.1, protocol v1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attestation {
    /// `android-key` or `apple-app-attest`.
    pub format: String,
    /// b64u of: for `android-key`, the Keystore certificate chain of the enrolled key, leaf
    /// first, each certificate's DER one after the other; for `apple-app-attest`, the
    /// attestation object `attestKey` returned (CBOR).
    pub data: String,
}

/// The attestation challenge of an enrollment (DEVICE-PROTOCOL.md §3.1):
/// `SHA-256("ciba-attestation-v1" ‖ 0x00 ‖ code)`, 32 bytes. Android: the key's
/// `setAttestationChallenge`. Apple: `clientDataHash = SHA-256(challenge ‖ jkt)`.
pub fn attestation_challenge(code: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"ciba-attestation-v1\0");
    hash.update(code.as_bytes());
    hash.finalize().into()
}

/// App Attest's `clientDataHash` for an enrollment: `SHA-256(challenge ‖ jkt)`, binding the
/// server's challenge and the device key that enrolls.
pub fn app_attest_client_data_hash(code: &str, jkt: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(attestation_challenge(code));
    hash.update(jkt.as_bytes());
    hash.finalize().into()
}

/// Body of `POST /device/v1/enrollments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentRequest {
    /// The enrollment code from the enrollment URI.
    pub code: String,
    /// The push registration.
    pub push: PushRegistration,
    /// What the device says about itself.
    pub device: DeviceInfo,
    /// Optional key attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
    /// Optional approval key (protocol v1.1, DEVICE-PROTOCOL.md §3.2): the key that signs
    /// approvals, bound to the user's biometrics on the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_key: Option<ApprovalKey>,
}

/// A device's approval key, registered at enrollment (DEVICE-PROTOCOL.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalKey {
    /// The public P-256 key.
    pub jwk: crate::jose::Jwk,
    /// Its attestation (Android: its own certificate chain, made with the same challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

/// The enrolled user, as the device may show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledUser {
    /// The user's stable subject identifier (the ID token's `sub`).
    pub subject: String,
    /// The user's display name, if the bank set one.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Answer to a successful enrollment (`201`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentResponse {
    /// The device's identifier (the `kid` and `iss` of its decisions).
    pub device_id: String,
    /// The server's issuer.
    pub issuer: String,
    /// The enrolled user.
    pub user: EnrolledUser,
    /// A label for the account in the app's list.
    pub account_label: String,
    /// The server's clock, so the device can notice a skewed clock.
    pub server_time: i64,
    /// What the server verified about the device's attestation (protocol v1.1; absent from a
    /// v1 server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<EnrolledAttestation>,
    /// What the server verified about the approval key, when one was registered (v1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_attestation: Option<EnrolledAttestation>,
}

/// The device trust the server recorded at enrollment (DEVICE-PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledAttestation {
    /// `verified`, `unverified` or `none`.
    pub status: String,
    /// The `amr` the device's approvals carry (RFC 8176), e.g. `["hwk"]` or `["swk"]`.
    pub amr: Vec<String>,
    /// Why an attestation the device sent did not verify (`key_mismatch`, `expired`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_uri_round_trips_with_percent_encoding() {
        let uri = EnrollmentUri {
            issuer: "https://bank.example/ciba?x=1".into(),
            code: "AbC-_9".into(),
        };
        let text = uri.to_uri_string();
        assert!(text.starts_with(
            "ciba-enroll://v1?issuer=https%3A%2F%2Fbank.example%2Fciba%3Fx%3D1&code="
        ));
        assert_eq!(EnrollmentUri::parse(&text), Ok(uri));
    }

    #[test]
    fn the_longest_issuer_fits_in_an_enrollment_uri() {
        // Every byte of the issuer percent-encoded: three bytes each, the worst case.
        let issuer = format!("https://a/{}", "\u{e9}".repeat((MAX_ISSUER_BYTES - 10) / 2));
        assert!(issuer.len() <= MAX_ISSUER_BYTES);
        let uri = EnrollmentUri {
            issuer,
            code: "\u{e9}".repeat(MAX_ENROLLMENT_CODE_BYTES / 2),
        };
        let text = uri.to_uri_string();
        assert!(text.len() <= MAX_ENROLLMENT_URI_BYTES, "{}", text.len());
        assert_eq!(EnrollmentUri::parse(&text), Ok(uri));
    }

    #[test]
    fn enrollment_uri_rejects_wrong_shapes() {
        for bad in [
            "https://v1?issuer=https%3A%2F%2Fa&code=x",
            "ciba-enroll://v2?issuer=https%3A%2F%2Fa&code=x",
            "ciba-enroll://v1?code=x",
            "ciba-enroll://v1?issuer=https%3A%2F%2Fa",
            "ciba-enroll://v1?issuer=https%3A%2F%2Fa&code=",
            "ciba-enroll://v1?issuer=ftp%3A%2F%2Fa&code=x",
            "ciba-enroll://v1?issuer=https%3A%2F%2Fa&code=x&code=y",
            "not a uri",
            &format!(
                "ciba-enroll://v1?issuer=https%3A%2F%2Fa&code=x&pad={}",
                "a".repeat(2048)
            ),
        ] {
            assert!(
                EnrollmentUri::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn enrollment_request_wire_shape() {
        let json = r#"{"code":"c","push":{"provider":"fcm","token":"t","environment":"sandbox"},
            "device":{"display_name":"Pixel","platform":"android"}}"#;
        let req: EnrollmentRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.push.provider, PushProvider::Fcm);
        assert_eq!(req.push.environment, PushEnvironment::Sandbox);
        assert_eq!(req.device.platform, Platform::Android);
        let none: PushRegistration = serde_json::from_str(r#"{"provider":"none"}"#).unwrap();
        assert_eq!(none, PushRegistration::none());
        assert!(
            serde_json::from_str::<PushRegistration>(r#"{"provider":"carrier-pigeon"}"#).is_err()
        );
    }
}
