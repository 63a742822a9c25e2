//! Enrollment (DEVICE-PROTOCOL.md §3): a device with a fresh key consumes a single-use code.

use ciba_core::protocol::{
    EnrolledUser, EnrollmentRequest, EnrollmentResponse, PushProvider, PushRegistration,
};
use serde_json::json;

use super::DeviceProof;
use crate::crypto::{hash_secret, random_id};
use crate::error::{DeviceCode, Error, Result};
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
    if !state.store.enrollment_code_usable(&code_hash, now).await? {
        return Err(invalid_code());
    }
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
                           // What the device sent is a claim until it is verified; this server
                           // does not verify attestations yet, so none counts as verified.
                           "attestation": {"claimed_format": req.attestation.as_ref().map(|a| a.format.clone()),
                                           "verified": false}}),
        })
        .await;
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
    })
}
