use axum::http::StatusCode;
use ciba_core::protocol::{
    EnrolledUser, EnrollmentRequest, EnrollmentResponse, EnrollmentUri, PushProvider,
    PushRegistration, error_codes,
};
use serde::Serialize;
use serde_json::json;

use super::DeviceProof;
use crate::crypto::{hash_secret, random_b64u, random_id};
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Device, DeviceStatus, EnrollOutcome, Enrollment, NewAuditEvent};

/// Answer of `POST /admin/v1/users/{id}/enrollments`.
#[derive(Debug, Serialize)]
pub struct EnrollmentCreated {
    /// `enr_…`.
    pub enrollment_id: String,
    /// The single-use code (≥ 128 bits); stored only hashed.
    pub code: String,
    /// What the QR code or app link carries.
    pub uri: String,
    /// Expiry.
    pub expires_at: i64,
}

/// Creates a single-use enrollment code for a user (the bank's backend asks).
pub async fn create_enrollment(state: &AppState, user_id: &str) -> ApiResult<EnrollmentCreated> {
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let now = state.now();
    let code = random_b64u(20)?;
    let enrollment = Enrollment {
        id: random_id("enr_")?,
        user_id: user.id.clone(),
        code_hash: hash_secret(&code),
        created_at: now,
        expires_at: now + state.settings.enrollment.code_ttl,
    };
    state.store.insert_enrollment(&enrollment).await?;
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "enrollment_created",
            user_id: Some(user.id),
            client_id: None,
            device_id: None,
            request_id: None,
            detail: json!({"enrollment_id": enrollment.id, "expires_at": enrollment.expires_at}),
        })
        .await;
    let uri = EnrollmentUri {
        issuer: state.issuer.clone(),
        code: code.clone(),
    }
    .to_uri_string();
    Ok(EnrollmentCreated {
        enrollment_id: enrollment.id,
        code,
        uri,
        expires_at: enrollment.expires_at,
    })
}

fn text_ok(value: &str, max: usize) -> bool {
    !value.trim().is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

fn optional_ok(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| text_ok(v, 100))
}

/// A push registration: `none` without a token, `fcm`/`apns` with a printable token.
pub fn validate_push(push: &PushRegistration) -> ApiResult<()> {
    match (push.provider, push.token.as_deref()) {
        (PushProvider::None, None) => Ok(()),
        (PushProvider::None, Some(_)) => Err(ApiError::invalid_request(
            "push provider none takes no token",
        )),
        (_, Some(token))
            if !token.is_empty()
                && token.len() <= 4096
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(())
        }
        _ => Err(ApiError::invalid_request("push token missing or malformed")),
    }
}

/// Enrolls the device whose key signed `proof`, consuming the code atomically.
pub async fn enroll(
    state: &AppState,
    proof: DeviceProof,
    req: EnrollmentRequest,
) -> ApiResult<EnrollmentResponse> {
    let d = &req.device;
    if !text_ok(&d.display_name, 100)
        || ![&d.model, &d.os_version, &d.app_version, &d.sdk_version]
            .into_iter()
            .all(optional_ok)
    {
        return Err(ApiError::invalid_request(
            "device fields must be 1 to 100 printable characters",
        ));
    }
    validate_push(&req.push)?;
    let invalid_code = || {
        ApiError::bad_request(
            error_codes::INVALID_ENROLLMENT_CODE,
            "the enrollment code is unknown, used or expired",
        )
    };
    if req.code.is_empty() || req.code.len() > 256 {
        return Err(invalid_code());
    }
    let now = state.now();
    let public_jwk = serde_json::to_string(&proof.jwk).map_err(ApiError::internal)?;
    let device = Device {
        id: random_id("dev_")?,
        user_id: String::new(),
        jkt: proof.jkt.clone(),
        public_jwk,
        status: DeviceStatus::Active,
        push_provider: req.push.provider,
        push_token: req.push.token.clone(),
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
    let user_id = match state
        .store
        .enroll_device(&hash_secret(&req.code), now, &device)
        .await?
    {
        EnrollOutcome::Enrolled { user_id } => user_id,
        EnrollOutcome::InvalidCode => return Err(invalid_code()),
        EnrollOutcome::KeyAlreadyEnrolled => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                error_codes::DEVICE_ALREADY_ENROLLED,
                "this key is already enrolled; create a fresh key per enrollment",
            ));
        }
    };
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or_else(|| ApiError::internal("enrolled user vanished"))?;
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "device_enrolled",
            user_id: Some(user.id.clone()),
            client_id: None,
            device_id: Some(device.id.clone()),
            request_id: None,
            detail: json!({"platform": device.platform.as_str(), "push_provider": device.push_provider.as_str(),
                           "attestation": req.attestation.as_ref().map(|a| a.format.clone())}),
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
