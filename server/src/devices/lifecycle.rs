//! Device lifecycle (DEVICE-PROTOCOL.md §7): push token rotation, key rotation, unenrollment.

use ciba_core::jose::CompactJws;
use ciba_core::protocol::{
    DPOP_IAT_TOLERANCE_SECS, DPOP_REPLAY_WINDOW_SECS, KeyRotationRequest, KeyRotationResponse,
    NewKeyProofClaims, PushRegistration,
};
use serde_json::json;

use super::validate_push;
use crate::crypto::{hash_secret, verify_es256};
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Device, NewAuditEvent, StoreError};

fn event(
    state: &AppState,
    kind: &'static str,
    device: &Device,
    detail: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at: state.now(),
        kind,
        user_id: Some(device.user_id.clone()),
        client_id: None,
        device_id: Some(device.id.clone()),
        request_id: None,
        detail,
    }
}

/// `PUT /device/v1/push-token`: the app's push token rotated.
pub async fn update_push_token(
    state: &AppState,
    device: &Device,
    push: PushRegistration,
) -> ApiResult<()> {
    validate_push(&push)?;
    let updated = state
        .store
        .update_push(
            &device.id,
            push.provider,
            push.token.as_deref(),
            push.environment,
        )
        .await?;
    if !updated {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "device_revoked",
            "this device was revoked",
        ));
    }
    tracing::info!(device = %device.id, provider = push.provider.as_str(), "push registration updated");
    Ok(())
}

/// `POST /device/v1/key-rotation`: the device (authenticated by its old key) moves to a new key
/// that proves possession; the old key stops working at once.
pub async fn rotate_key(
    state: &AppState,
    device: &Device,
    body: KeyRotationRequest,
) -> ApiResult<KeyRotationResponse> {
    let bad = |why: &str| ApiError::invalid_request(format!("new_key_proof: {why}"));
    if body.new_key_proof.len() > 8192 {
        return Err(bad("too large"));
    }
    let jws = CompactJws::parse(&body.new_key_proof).map_err(|_| bad("not a compact JWS"))?;
    if jws.header.alg != "ES256" {
        return Err(bad("alg must be ES256"));
    }
    let jwk = jws
        .header
        .jwk
        .clone()
        .ok_or_else(|| bad("no jwk in the header"))?;
    jwk.check_public_p256()
        .map_err(|_| bad("the new key must be a public P-256 key"))?;
    if !verify_es256(&jwk, jws.signing_input.as_bytes(), &jws.signature) {
        return Err(bad("the signature does not verify with the new key"));
    }
    let claims: NewKeyProofClaims = jws.claims().map_err(|_| bad("malformed claims"))?;
    if claims.old_jkt != device.jkt {
        return Err(bad("old_jkt is not this device's key"));
    }
    let now = state.now();
    if (claims.iat - now).abs() > DPOP_IAT_TOLERANCE_SECS {
        return Err(bad("iat is too far from the server clock"));
    }
    if claims.jti.len() < 16 || claims.jti.len() > 256 {
        return Err(bad("jti must carry at least 96 bits"));
    }
    let new_jkt = jwk.thumbprint().map_err(|_| bad("no thumbprint"))?;
    if new_jkt == device.jkt {
        return Err(bad("the new key is the old key"));
    }
    let key = format!(
        "rotation:{}",
        hash_secret(&format!("{new_jkt}:{}", claims.jti))
    );
    if !state
        .store
        .remember_jti(&key, now + DPOP_REPLAY_WINDOW_SECS, now)
        .await?
    {
        return Err(bad("this proof was already used"));
    }
    let new_jwk = serde_json::to_string(&jwk).map_err(ApiError::internal)?;
    match state
        .store
        .rotate_device_key(&device.id, &device.jkt, &new_jkt, &new_jwk)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "invalid_request",
                "the device key changed meanwhile",
            ));
        }
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "device_already_enrolled",
                "the new key is already enrolled",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(event(
            state,
            "key_rotated",
            device,
            json!({"old_jkt": device.jkt, "new_jkt": new_jkt}),
        ))
        .await;
    tracing::info!(device = %device.id, "device key rotated");
    Ok(KeyRotationResponse {
        device_id: device.id.clone(),
    })
}

/// `DELETE /device/v1/device`: the device unenrolls itself (kept, revoked, for the audit trail).
pub async fn unenroll(state: &AppState, device: &Device) -> ApiResult<()> {
    if state.store.revoke_device(&device.id, state.now()).await? {
        state
            .audit(event(
                state,
                "device_revoked",
                device,
                json!({"by": "device"}),
            ))
            .await;
    }
    Ok(())
}
