//! Android Key Attestation: the Keystore's certificate chain for the enrolled key, up to Google's
//! hardware attestation roots, with the KeyDescription extension (OID 1.3.6.1.4.1.11129.2.1.17)
//! of the leaf read for the facts the policy needs.
//!
//! <https://source.android.com/docs/security/features/keystore/attestation> defines the
//! structure. Only the hardware-enforced authorization list is believed for security facts (key
//! origin, purpose, user authentication, root of trust); the attesting application's identity is
//! always in the software-enforced list, because the OS, not the secure hardware, knows it.

use std::collections::HashSet;

use x509_parser::certificate::X509Certificate;

use super::der::{self, Reader};
use super::{AndroidPolicy, Expected, Refusal, SecurityLevel, UserVerification, Verified, chain};

const KEY_DESCRIPTION_OID: &str = "1.3.6.1.4.1.11129.2.1.17";
const EC_PUBLIC_KEY_OID: &str = "1.2.840.10045.2.1";
const P256_OID: &str = "1.2.840.10045.3.1.7";

const PURPOSE_SIGN: i64 = 2;
const PURPOSE_ATTEST_KEY: i64 = 7;
const ALGORITHM_EC: i64 = 3;
const CURVE_P256: i64 = 1;
const ORIGIN_GENERATED: i64 = 0;
const AUTH_PASSWORD: i64 = 1;
const AUTH_BIOMETRIC: i64 = 2;

/// The facts of one AuthorizationList this verifier uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuthorizationList {
    pub purposes: Vec<i64>,
    pub algorithm: Option<i64>,
    pub ec_curve: Option<i64>,
    pub no_auth_required: bool,
    pub user_auth_type: Option<i64>,
    pub auth_timeout: Option<i64>,
    pub origin: Option<i64>,
    pub root_of_trust: Option<RootOfTrust>,
    pub application: Option<ApplicationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOfTrust {
    pub device_locked: bool,
    /// 0 Verified, 1 SelfSigned, 2 Unverified, 3 Failed.
    pub verified_boot_state: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplicationId {
    pub packages: Vec<String>,
    /// SHA-256 digests of the app's signing certificates, lowercase hex.
    pub signature_digests: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    pub attestation_version: i64,
    pub attestation_security_level: i64,
    pub keymint_security_level: i64,
    pub challenge: Vec<u8>,
    pub software: AuthorizationList,
    pub hardware: AuthorizationList,
}

fn malformed(e: der::DerError) -> Refusal {
    Refusal::Malformed(format!("KeyDescription: {e}"))
}

/// Parses the DER of a KeyDescription extension value.
pub fn parse_key_description(bytes: &[u8]) -> Result<KeyDescription, Refusal> {
    let parse = || -> Result<KeyDescription, der::DerError> {
        let mut outer = Reader::new(bytes);
        let seq = outer.expect(der::SEQUENCE)?;
        outer.finish()?;
        let mut r = Reader::new(seq.value);
        let attestation_version = r.integer(der::INTEGER)?;
        let attestation_security_level = r.integer(der::ENUMERATED)?;
        let keymint_version = r.integer(der::INTEGER)?;
        let _ = keymint_version;
        let keymint_security_level = r.integer(der::ENUMERATED)?;
        let challenge = r.expect(der::OCTET_STRING)?.value.to_vec();
        let _unique_id = r.expect(der::OCTET_STRING)?;
        let software = authorization_list(r.expect(der::SEQUENCE)?.value)?;
        let hardware = authorization_list(r.expect(der::SEQUENCE)?.value)?;
        // Later versions may append fields; they are ignored, as Google's verifier does.
        Ok(KeyDescription {
            attestation_version,
            attestation_security_level,
            keymint_security_level,
            challenge,
            software,
            hardware,
        })
    };
    parse().map_err(malformed)
}

fn integer_set(bytes: &[u8]) -> Result<Vec<i64>, der::DerError> {
    let mut outer = Reader::new(bytes);
    let set = outer.expect(der::SET)?;
    outer.finish()?;
    let mut r = Reader::new(set.value);
    let mut values = Vec::new();
    while !r.is_empty() {
        values.push(r.integer(der::INTEGER)?);
        if values.len() > 64 {
            return Err(der::DerError("set too large"));
        }
    }
    Ok(values)
}

fn single_integer(bytes: &[u8], number: u32) -> Result<i64, der::DerError> {
    let mut r = Reader::new(bytes);
    let v = r.integer(number)?;
    r.finish()?;
    Ok(v)
}

fn authorization_list(bytes: &[u8]) -> Result<AuthorizationList, der::DerError> {
    let mut list = AuthorizationList::default();
    let mut r = Reader::new(bytes);
    let mut seen = HashSet::new();
    while !r.is_empty() {
        let tag = r.next_tlv()?;
        if tag.class != der::CONTEXT || !tag.constructed {
            return Err(der::DerError(
                "authorization list entry is not an explicit tag",
            ));
        }
        if !seen.insert(tag.number) {
            return Err(der::DerError(
                "a tag appears twice in an authorization list",
            ));
        }
        match tag.number {
            1 => list.purposes = integer_set(tag.value)?,
            2 => list.algorithm = Some(single_integer(tag.value, der::INTEGER)?),
            10 => list.ec_curve = Some(single_integer(tag.value, der::INTEGER)?),
            503 => {
                let mut v = Reader::new(tag.value);
                v.expect(der::NULL)?;
                v.finish()?;
                list.no_auth_required = true;
            }
            504 => list.user_auth_type = Some(single_integer(tag.value, der::INTEGER)?),
            505 => list.auth_timeout = Some(single_integer(tag.value, der::INTEGER)?),
            702 => list.origin = Some(single_integer(tag.value, der::INTEGER)?),
            704 => list.root_of_trust = Some(root_of_trust(tag.value)?),
            709 => list.application = Some(application_id(tag.value)?),
            _ => continue,
        };
    }
    Ok(list)
}

fn root_of_trust(bytes: &[u8]) -> Result<RootOfTrust, der::DerError> {
    let mut outer = Reader::new(bytes);
    let seq = outer.expect(der::SEQUENCE)?;
    outer.finish()?;
    let mut r = Reader::new(seq.value);
    let _verified_boot_key = r.expect(der::OCTET_STRING)?;
    let device_locked = der::boolean_value(r.expect(der::BOOLEAN)?.value)?;
    let verified_boot_state = r.integer(der::ENUMERATED)?;
    Ok(RootOfTrust {
        device_locked,
        verified_boot_state,
    })
}

fn application_id(bytes: &[u8]) -> Result<ApplicationId, der::DerError> {
    let mut outer = Reader::new(bytes);
    let octets = outer.expect(der::OCTET_STRING)?;
    outer.finish()?;
    let mut inner = Reader::new(octets.value);
    let seq = inner.expect(der::SEQUENCE)?;
    let mut r = Reader::new(seq.value);
    let mut app = ApplicationId::default();
    let mut packages = Reader::new(r.expect(der::SET)?.value);
    while !packages.is_empty() {
        let info = packages.expect(der::SEQUENCE)?;
        let mut p = Reader::new(info.value);
        let name = p.expect(der::OCTET_STRING)?.value;
        app.packages
            .push(String::from_utf8_lossy(name).into_owned());
        if app.packages.len() > 64 {
            return Err(der::DerError("too many packages"));
        }
    }
    let mut digests = Reader::new(r.expect(der::SET)?.value);
    while !digests.is_empty() {
        let d = digests.expect(der::OCTET_STRING)?.value;
        app.signature_digests
            .push(d.iter().map(|b| format!("{b:02x}")).collect());
        if app.signature_digests.len() > 64 {
            return Err(der::DerError("too many signature digests"));
        }
    }
    Ok(app)
}

fn key_description_of<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == KEY_DESCRIPTION_OID)
        .map(|e| e.value)
}

/// Verifies an Android Key Attestation chain (concatenated DER, leaf first).
pub fn verify(
    data: &[u8],
    expected: &Expected<'_>,
    policy: &AndroidPolicy,
) -> Result<Verified, Refusal> {
    let certs = chain::parse_concatenated(data)?;
    chain::verify(&certs, &policy.roots, expected.now)?;
    for cert in &certs {
        if let Some(status) = policy.revoked.get(&chain::serial_hex(cert)) {
            return Err(Refusal::Revoked(format!(
                "certificate {} of the chain is {status} on the attestation status list",
                chain::serial_hex(cert)
            )));
        }
    }
    let leaf = &certs[0];
    let description = key_description_of(leaf)
        .ok_or_else(|| Refusal::Malformed("the leaf has no KeyDescription extension".into()))?;
    let description = parse_key_description(description)?;
    // A KeyDescription above the leaf means the leaf was signed by an app-generated key. A
    // genuine ATTEST_KEY chain is still not what this SDK makes; any other attested key signing a
    // certificate is a forgery made with an ordinary attested key.
    for cert in &certs[1..] {
        if let Some(above) = key_description_of(cert) {
            let above = parse_key_description(above)?;
            return Err(if above.hardware.purposes.contains(&PURPOSE_ATTEST_KEY) {
                Refusal::Unsupported(
                    "chains made with an app attestation key (ATTEST_KEY) are not accepted".into(),
                )
            } else {
                Refusal::UntrustedChain(
                    "an attested key that is not an attestation key signed another certificate"
                        .into(),
                )
            });
        }
    }
    // The attested key must be the enrolled one.
    let spki = leaf.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    if spki.algorithm.algorithm.to_id_string() != EC_PUBLIC_KEY_OID
        || curve.as_deref() != Some(P256_OID)
        || spki.subject_public_key.data.as_ref() != expected.public_point
    {
        return Err(Refusal::KeyMismatch);
    }
    if description.challenge != expected.challenge {
        return Err(Refusal::ChallengeMismatch);
    }
    let level = match description.attestation_security_level {
        1 => SecurityLevel::Tee,
        2 => SecurityLevel::StrongBox,
        _ => {
            return Err(Refusal::SecurityLevel(
                "the key is attested by software, not by secure hardware".into(),
            ));
        }
    };
    if description.keymint_security_level != description.attestation_security_level {
        return Err(Refusal::SecurityLevel(
            "the key lives at another security level than its attestation".into(),
        ));
    }
    if !policy.security_levels.contains(&level) {
        return Err(Refusal::SecurityLevel(format!(
            "security level {} is not allowed by the policy",
            level.as_str()
        )));
    }
    let hw = &description.hardware;
    if !hw.purposes.contains(&PURPOSE_SIGN)
        || hw.algorithm != Some(ALGORITHM_EC)
        || hw.ec_curve.is_some_and(|c| c != CURVE_P256)
    {
        return Err(Refusal::KeyMismatch);
    }
    if hw.origin != Some(ORIGIN_GENERATED) {
        return Err(Refusal::SecurityLevel(
            "the key was not generated inside the secure hardware".into(),
        ));
    }
    let boot = hw.root_of_trust.as_ref();
    let boot_verified = boot.is_some_and(|b| b.device_locked && b.verified_boot_state == 0);
    if policy.require_verified_boot && !boot_verified {
        return Err(Refusal::VerifiedBoot(
            "the device's bootloader is unlocked or its boot is not verified".into(),
        ));
    }
    let app = description.software.application.clone().unwrap_or_default();
    if !policy.apps.is_empty() {
        let allowed = policy.apps.iter().any(|allowed| {
            app.packages.contains(&allowed.package)
                && (allowed.signing_cert_sha256.is_empty()
                    || app
                        .signature_digests
                        .iter()
                        .any(|d| allowed.signing_cert_sha256.contains(d)))
        });
        if !allowed {
            return Err(Refusal::AppIdentity(format!(
                "the attesting app {:?} is not an allowed app",
                app.packages
            )));
        }
    }
    // User verification is a fact only when the hardware enforces it on every use.
    // A timeout in either list means a window after an unlock, not a check on every use.
    let timeout = |list: &AuthorizationList| list.auth_timeout.is_some_and(|t| t != 0);
    let user_verification = match hw.user_auth_type {
        Some(kind) if !hw.no_auth_required && kind & (AUTH_BIOMETRIC | AUTH_PASSWORD) != 0 => {
            Some(UserVerification {
                biometric: kind & AUTH_BIOMETRIC != 0,
                device_credential: kind & AUTH_PASSWORD != 0,
                per_use: !timeout(hw) && !timeout(&description.software),
            })
        }
        _ => None,
    };
    Ok(Verified {
        format: super::ANDROID_KEY.into(),
        hardware_key: true,
        security_level: Some(level),
        user_verification,
        verified_boot: Some(boot_verified),
        app_id: app.packages.first().cloned(),
        app_signers: app.signature_digests,
        environment: None,
        attestation_version: Some(description.attestation_version),
    })
}
