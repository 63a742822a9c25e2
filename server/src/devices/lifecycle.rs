//! Device lifecycle (DEVICE-PROTOCOL.md §7): push token rotation, key rotation, unenrollment.

use ciba_core::protocol::{
    KeyRotationRequest, KeyRotationResponse, NewKeyProofClaims, PushRegistration,
};
use serde_json::json;

use super::proof::{
    Proof, ProofFault, ReplayScope, first_use, iat_is_fresh, jti_is_well_formed, remember_until,
};
use super::{AuthenticatedDevice, validate_push};
use crate::error::{DeviceCode, Error, Result};
use crate::state::AppState;
use crate::store::{Device, NewAuditEvent, StoreError};

fn event(
    now: i64,
    kind: &'static str,
    device: &Device,
    detail: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at: now,
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
    device: &AuthenticatedDevice,
    push: PushRegistration,
) -> Result<()> {
    validate_push(&push)?;
    let updated = state
        .store
        .update_push(
            &device.id,
            push.provider,
            push.token.as_deref().filter(|t| !t.is_empty()),
            push.environment,
        )
        .await?;
    if !updated {
        return Err(Error::device(
            DeviceCode::DeviceRevoked,
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
    device: &AuthenticatedDevice,
    body: KeyRotationRequest,
) -> Result<KeyRotationResponse> {
    let bad =
        |why: &str| Error::device(DeviceCode::InvalidRequest, format!("new_key_proof: {why}"));
    let fault = |fault: ProofFault| {
        bad(match fault {
            ProofFault::TooLarge => "too large",
            ProofFault::NotJws => "not a compact JWS",
            ProofFault::Header => "alg must be ES256",
            ProofFault::NoJwk => "no jwk in the header",
            ProofFault::NotP256 => "the new key must be a public P-256 key",
            ProofFault::Signature => "the signature does not verify with the new key",
            ProofFault::Claims => "malformed claims",
        })
    };
    let proof = Proof::open(&body.new_key_proof, 8192, None).map_err(fault)?;
    let jwk = proof.embedded_key().map_err(fault)?;
    let claims: NewKeyProofClaims = proof.verified_claims(&jwk).map_err(fault)?;
    if claims.old_jkt != device.jkt {
        return Err(bad("old_jkt is not this device's key"));
    }
    let now = state.now();
    if !iat_is_fresh(claims.iat, now) {
        return Err(bad("iat is too far from the server clock"));
    }
    if !jti_is_well_formed(&claims.jti) {
        return Err(bad("jti must carry at least 96 bits"));
    }
    let new_jkt = jwk.thumbprint().map_err(|_| bad("no thumbprint"))?;
    if new_jkt == device.jkt {
        return Err(bad("the new key is the old key"));
    }
    let until = remember_until(claims.iat, now);
    if !first_use(
        state,
        ReplayScope::Rotation,
        &new_jkt,
        &claims.jti,
        until,
        now,
    )
    .await?
    {
        return Err(bad("this proof was already used"));
    }
    let new_jwk = serde_json::to_string(&jwk).map_err(Error::internal)?;
    match state
        .store
        .rotate_device_key(&device.id, &device.jkt, &new_jkt, &new_jwk)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::device(
                DeviceCode::KeyChanged,
                "the device key changed meanwhile",
            ));
        }
        Err(StoreError::Conflict(_)) => {
            return Err(Error::device(
                DeviceCode::DeviceAlreadyEnrolled,
                "the new key is already enrolled",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(event(
            now,
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
pub async fn unenroll(state: &AppState, device: &AuthenticatedDevice) -> Result<()> {
    let now = state.now();
    if state.store.revoke_device(&device.id, now).await? {
        state
            .audit(event(
                now,
                "device_revoked",
                device,
                json!({"by": "device"}),
            ))
            .await;
    }
    Ok(())
}
