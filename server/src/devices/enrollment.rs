//! Enrollment (DEVICE-PROTOCOL.md §3): a device with a fresh key consumes a single-use code.

use ciba_core::protocol::{
    EnrolledAttestation, EnrolledUser, EnrollmentRequest, EnrollmentResponse, PushProvider,
    PushRegistration,
};
use serde_json::json;

use super::DeviceProof;
use crate::attestation::{self, DeviceTrust, Expected};
use crate::crypto::{hash_secret, random_id};
use crate::error::{DeviceCode, Error, Result};
use crate::metrics::EnrollmentOutcome;
use crate::state::AppState;
use crate::store::{Device, DeviceStatus, EnrollOutcome, NewAuditEvent};

/// What a device says about itself is shown to bank staff: text that reads as it renders.
fn text_ok(value: &str, max: usize) -> bool {
    !value.trim().is_empty()
        && value.chars().count() <= max
        && ciba_core::protocol::is_display_safe(value)
}

fn optional_ok(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| text_ok(v, 100))
}

/// A push registration: `none` without a token (absent, `null` or `""` all mean none, as
/// DEVICE-PROTOCOL.md §3 says), `fcm`/`apns` with a printable token.
pub fn validate_push(push: &PushRegistration) -> Result<()> {
    match (push.provider, push.token.as_deref()) {
        (PushProvider::None, None | Some("")) => Ok(()),
        (PushProvider::None, Some(_)) => Err(Error::device(
            DeviceCode::InvalidRequest,
            "push provider none takes no token",
        )),
        (_, Some(token))
            if !token.is_empty()
                && token.len() <= 4096
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(())
        }
        _ => Err(Error::device(
            DeviceCode::InvalidRequest,
            "push token missing or malformed",
        )),
    }
}

/// The policy's verdict on the device's attestation, before anything is written: a device the
/// policy refuses keeps its code unused (and the refusal is audited and counted).
async fn assess_attestation(
    state: &AppState,
    proof: &DeviceProof,
    req: &EnrollmentRequest,
    user_id: &str,
    now: i64,
) -> Result<DeviceTrust> {
    let challenge = attestation::challenge(&req.code);
    // Another key type matches no attestation.
    let point = proof.jwk.p256_uncompressed().unwrap_or_default();
    let expected = Expected {
        challenge: &challenge,
        public_point: &point,
        jkt: &proof.jkt,
        now,
    };
    match state
        .attestation
        .assess(req.attestation.as_ref(), req.device.platform, &expected)
    {
        Ok(trust) => Ok(trust),
        Err(refusal) => {
            state.metrics.enrollment(EnrollmentOutcome::Refused);
            state
                .audit(NewAuditEvent {
                    at: now,
                    kind: "device_enrollment_refused",
                    user_id: Some(user_id.to_owned()),
                    client_id: None,
                    device_id: None,
                    request_id: None,
                    detail: json!({"platform": req.device.platform.as_str(),
                                   "attestation": {"format": req.attestation.as_ref().map(attestation::claimed_format),
                                                   "reason": refusal.code(), "detail": refusal.to_string()}}),
                })
                .await;
            tracing::info!(
                reason = refusal.code(),
                "enrollment refused by the attestation policy"
            );
            Err(Error::device(
                DeviceCode::AttestationFailed,
                format!(
                    "the device's key attestation does not satisfy this server's policy: {refusal}"
                ),
            ))
        }
    }
}

/// The approval key (DEVICE-PROTOCOL.md §3.2): a public P-256 key other than the device key,
/// and what its attestation proves. Its attestation never refuses an enrollment (the policy's
/// `required` is about the device): it only decides the `amr` of approvals.
fn assess_approval_key(
    state: &AppState,
    proof: &DeviceProof,
    req: &EnrollmentRequest,
    now: i64,
) -> Result<Option<(String, DeviceTrust)>> {
    let Some(key) = &req.approval_key else {
        return Ok(None);
    };
    let invalid = |what: &str| Error::device(DeviceCode::InvalidRequest, what);
    key.jwk
        .check_public_p256()
        .map_err(|_| invalid("approval_key.jwk must be a public P-256 key"))?;
    let jkt = key
        .jwk
        .thumbprint()
        .map_err(|_| invalid("approval_key.jwk must be a public P-256 key"))?;
    if jkt == proof.jkt {
        return Err(invalid(
            "the approval key must be another key than the device key",
        ));
    }
    let challenge = attestation::challenge(&req.code);
    let point = key.jwk.p256_uncompressed().unwrap_or_default();
    let expected = Expected {
        challenge: &challenge,
        public_point: &point,
        jkt: &jkt,
        now,
    };
    let trust = state.attestation.assess_approval_key(
        key.attestation.as_ref(),
        req.device.platform,
        &expected,
    );
    let jwk = serde_json::to_string(&key.jwk).map_err(Error::internal)?;
    Ok(Some((jwk, trust)))
}

fn summary_of(trust: &DeviceTrust) -> EnrolledAttestation {
    EnrolledAttestation {
        status: trust.status().into(),
        amr: trust.amr(),
        reason: match trust {
            DeviceTrust::Unverified { reason, .. } => Some(reason.clone()),
            _ => None,
        },
    }
}

fn stored(trust: &DeviceTrust) -> Result<Option<String>> {
    match trust {
        DeviceTrust::None => Ok(None),
        other => Ok(Some(serde_json::to_string(other).map_err(Error::internal)?)),
    }
}

/// Enrolls the device whose key signed `proof`, consuming the code atomically.
pub async fn enroll(
    state: &AppState,
    proof: DeviceProof,
    req: EnrollmentRequest,
) -> Result<EnrollmentResponse> {
    let d = &req.device;
    if !text_ok(&d.display_name, 100)
        || ![&d.model, &d.os_version, &d.app_version, &d.sdk_version]
            .into_iter()
            .all(optional_ok)
    {
        return Err(Error::device(
            DeviceCode::InvalidRequest,
            "device fields must be 1 to 100 printable characters",
        ));
    }
    validate_push(&req.push)?;
    let invalid_code = || {
        Error::device(
            DeviceCode::InvalidEnrollmentCode,
            "the enrollment code is unknown, used or expired",
        )
    };
    if req.code.is_empty() || req.code.len() > 256 {
        return Err(invalid_code());
    }
    let now = state.now();
    let code_hash = hash_secret(&req.code);
    // Nothing is written (not even the proof's jti) for a caller without a live code.
    let Some(code_user) = state.store.enrollment_code_user(&code_hash, now).await? else {
        return Err(invalid_code());
    };
    let approval = assess_approval_key(state, &proof, &req, now)?;
    let trust = assess_attestation(state, &proof, &req, &code_user, now).await?;
    proof.use_once(state).await?;
    let public_jwk = serde_json::to_string(&proof.jwk).map_err(Error::internal)?;
    let device = Device {
        id: random_id("dev_")?,
        user_id: String::new(),
        jkt: proof.jkt.clone(),
        public_jwk,
        status: DeviceStatus::Active,
        push_provider: req.push.provider,
        // `""` with provider none means no token.
        push_token: req.push.token.clone().filter(|t| !t.is_empty()),
        push_environment: req.push.environment,
        push_token_invalid_at: None,
        display_name: d.display_name.trim().to_owned(),
        platform: d.platform,
        model: d.model.clone(),
        os_version: d.os_version.clone(),
        app_version: d.app_version.clone(),
        sdk_version: d.sdk_version.clone(),
        enrolled_at: now,
        revoked_at: None,
        last_seen_at: Some(now),
        attestation: stored(&trust)?,
        approval_jwk: approval.as_ref().map(|(jwk, _)| jwk.clone()),
        approval_attestation: match &approval {
            Some((_, t)) => stored(t)?,
            None => None,
        },
    };
    let user_id = match state.store.enroll_device(&code_hash, now, &device).await? {
        EnrollOutcome::Enrolled { user_id } => user_id,
        EnrollOutcome::InvalidCode => return Err(invalid_code()),
        EnrollOutcome::KeyAlreadyEnrolled => {
            return Err(Error::device(
                DeviceCode::DeviceAlreadyEnrolled,
                "this key is already enrolled; create a fresh key per enrollment",
            ));
        }
    };
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or_else(|| Error::internal("enrolled user vanished"))?;
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "device_enrolled",
            user_id: Some(user.id.clone()),
            client_id: None,
            device_id: Some(device.id.clone()),
            request_id: None,
            detail: json!({"platform": device.platform.as_str(), "push_provider": device.push_provider.as_str(),
                           "attestation": trust,
                           "approval_key": approval.as_ref().map(|(_, t)| json!({"attestation": t}))}),
        })
        .await;
    let summary = summary_of(&trust);
    let approval_summary = approval.as_ref().map(|(_, t)| summary_of(t));
    state.metrics.enrollment(match trust {
        DeviceTrust::Verified(_) => EnrollmentOutcome::Verified,
        DeviceTrust::Unverified { .. } => EnrollmentOutcome::Unverified,
        DeviceTrust::None => EnrollmentOutcome::None,
    });
    tracing::info!(device = %device.id, "device enrolled");
    Ok(EnrollmentResponse {
        device_id: device.id,
        issuer: state.issuer.clone(),
        account_label: user.username.clone(),
        user: EnrolledUser {
            subject: user.subject,
            display_name: user.display_name,
        },
        server_time: now,
        attestation: Some(summary),
        approval_attestation: approval_summary,
    })
}
