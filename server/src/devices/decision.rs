//! Signed decisions (DEVICE-PROTOCOL.md §6): verified, then recorded by the one conditional
//! write that lets the first valid decision win across devices and instances.

use ciba_core::jose::Jwk;
use ciba_core::protocol::{
    DECISION_MAX_LIFETIME_SECS, DECISION_TYP, DPOP_IAT_TOLERANCE_SECS, DecisionAction,
    DecisionClaims, DecisionRequest, DecisionResponse, DecisionStatus, DenyReason, consent_hash,
};
use serde_json::json;

use super::AuthenticatedDevice;
use super::proof::{Proof, ProofFault, ReplayScope, first_use, jti_is_well_formed};
use crate::crypto::constant_time_eq;
use crate::error::{DeviceCode, Error, Result};
use crate::state::AppState;
use crate::store::{
    CibaRequest, Decision, DeliveryMode, Device, NewAuditEvent, NewClientNotification,
    NotificationKind, RequestStatus,
};

fn invalid(description: &str) -> Error {
    Error::device(DeviceCode::InvalidDecision, description)
}

fn decision_fault(fault: ProofFault) -> Error {
    invalid(match fault {
        ProofFault::TooLarge => "the decision is too large",
        ProofFault::NotJws => "the decision is not a compact JWS",
        ProofFault::Header | ProofFault::NoJwk | ProofFault::NotP256 => {
            "the decision must have alg ES256 and typ ciba-decision+jwt"
        }
        ProofFault::Signature => "the decision's signature does not verify with the device key",
        ProofFault::Claims => "the decision's claims are malformed",
    })
}

/// Verifies a signed decision from `device` (already DPoP-authenticated) on transaction `txn_id`
/// and records it; the first valid decision wins across devices and instances (§6).
pub async fn record_decision(
    state: &AppState,
    device: &AuthenticatedDevice,
    txn_id: &str,
    body: DecisionRequest,
) -> Result<DecisionResponse> {
    let request = state
        .store
        .request(txn_id)
        .await?
        .ok_or_else(|| Error::device(DeviceCode::NotFound, "no such transaction"))?;
    let now = state.now();
    let claims = verify_decision(state, device, &request, &body.decision, now)?;

    // Replay: a decision's jti is remembered past its expiry.
    let until = claims.exp.max(now).saturating_add(DPOP_IAT_TOLERANCE_SECS);
    if !first_use(
        state,
        ReplayScope::Decision,
        &device.id,
        &claims.jti,
        until,
        now,
    )
    .await?
    {
        return Err(invalid("this decision was already submitted"));
    }

    let approved = claims.action == DecisionAction::Approve;
    // The acr level chosen at the backchannel request binds the approval (README "Device
    // trust"): a device that cannot meet it may decline, not approve.
    if approved
        && let Some(level) = request
            .acr_values
            .first()
            .and_then(|value| state.settings.attestation.acr_level(value))
        && !crate::attestation::meets(level, &crate::attestation::approval_amr(device))
    {
        return Err(invalid(&format!(
            "this device cannot meet the acr {} the client asked for",
            level.value
        )));
    }
    // Ping and push clients are notified through the outbox, enqueued with the decision.
    let client = state.store.client(&request.client_id).await?;
    let notification = client
        .filter(|c| c.delivery_mode != DeliveryMode::Poll)
        .map(|c| NewClientNotification {
            client_id: c.id,
            kind: if c.delivery_mode == DeliveryMode::Ping {
                NotificationKind::Ping
            } else {
                NotificationKind::Push
            },
            deadline: request
                .expires_at
                .max(now + state.settings.notifications.retry_window),
        });
    let notify = notification.is_some();
    let amr = if approved {
        crate::attestation::approval_amr(device)
    } else {
        Vec::new()
    };
    let deny_reason = claims.deny_reason.map(|r| r.as_str().to_owned());
    let audit = |kind: &'static str, detail: serde_json::Value| NewAuditEvent {
        at: now,
        kind,
        user_id: Some(device.user_id.clone()),
        client_id: Some(request.client_id.clone()),
        device_id: Some(device.id.clone()),
        request_id: Some(request.id.clone()),
        detail,
    };
    // The decision's audit trail commits with it: a decision is never recorded without it.
    let mut trail = vec![audit(
        "decision",
        json!({"action": if approved { "approve" } else { "deny" }, "claimed_amr": claims.amr,
               "amr": amr, "deny_reason": deny_reason}),
    )];
    if claims.deny_reason == Some(DenyReason::NotRecognized) {
        trail.push(audit(
            "fraud_reported",
            json!({"client_id": request.client_id}),
        ));
    }
    let decision = Decision {
        approved,
        device_id: device.id.clone(),
        amr,
        deny_reason,
        notification,
        audit: trail,
    };
    if !state.store.decide(&request.id, &decision, now).await? {
        let current = state.store.request(&request.id).await?;
        return Err(match current.map(|r| r.status) {
            Some(RequestStatus::Pending | RequestStatus::Cancelled) | None => Error::device(
                DeviceCode::Expired,
                "the transaction expired or was withdrawn",
            ),
            Some(_) => Error::device(
                DeviceCode::AlreadyDecided,
                "the transaction was already decided",
            ),
        });
    }
    if notify {
        state.notify_wake.notify_one();
    }

    if claims.deny_reason == Some(DenyReason::NotRecognized) {
        tracing::warn!(txn = %request.id, user = %device.user_id, "the user reported a request as not recognised");
        if state.settings.ciba.lock_user_on_fraud_report
            && let Some(cancelled) = crate::ciba::lock_user(state, &device.user_id, now).await?
        {
            state
                .audit(audit(
                    "user_locked",
                    json!({"reason": "fraud_reported", "cancelled_requests": cancelled}),
                ))
                .await;
        }
    }
    tracing::info!(txn = %request.id, device = %device.id, approved, "decision recorded");
    Ok(DecisionResponse {
        status: if approved {
            DecisionStatus::Approved
        } else {
            DecisionStatus::Denied
        },
    })
}

/// Everything that makes a decision valid except freshness of its `jti` and the state change. A
/// device with an approval key must sign approvals with it (denials with either key), so an
/// approval's `amr` is always what `attestation::approval_amr` says of the device.
fn verify_decision(
    state: &AppState,
    device: &Device,
    request: &CibaRequest,
    jws: &str,
    now: i64,
) -> Result<DecisionClaims> {
    let proof = Proof::open(jws, 16 * 1024, Some(DECISION_TYP)).map_err(decision_fault)?;
    // The signer must be the device that posts it, an active device of the transaction's user.
    if proof.kid() != Some(device.id.as_str()) {
        return Err(invalid("the decision's kid is not this device"));
    }
    if device.user_id != request.user_id {
        return Err(invalid(
            "this device does not belong to the transaction's user",
        ));
    }
    let jwk: Jwk = serde_json::from_str(&device.public_jwk).map_err(Error::internal)?;
    let approval_jwk: Option<Jwk> = match &device.approval_jwk {
        Some(text) => Some(serde_json::from_str(text).map_err(Error::internal)?),
        None => None,
    };
    let by_approval = approval_jwk
        .as_ref()
        .and_then(|k| proof.verified_claims::<DecisionClaims>(k).ok());
    let by_approval_key = by_approval.is_some();
    let claims: DecisionClaims = match by_approval {
        Some(claims) => claims,
        None => proof.verified_claims(&jwk).map_err(decision_fault)?,
    };
    if approval_jwk.is_some() && !by_approval_key && claims.action == DecisionAction::Approve {
        return Err(invalid(
            "this device registered an approval key: approvals must be signed by it",
        ));
    }
    if claims.iss != device.id || claims.aud != state.issuer || claims.txn != request.id {
        return Err(invalid("iss, aud or txn does not match"));
    }
    if !constant_time_eq(&claims.challenge, &request.challenge) {
        return Err(invalid("the challenge does not match the transaction"));
    }
    let details: Option<Vec<serde_json::Value>> = match &request.authorization_details {
        Some(text) => Some(serde_json::from_str(text).map_err(Error::internal)?),
        None => None,
    };
    let client_id = &request.client_id;
    let expected = consent_hash(
        client_id,
        &request.scope,
        request.binding_message.as_deref(),
        details.as_deref(),
    )
    .map_err(Error::internal)?;
    if !constant_time_eq(&claims.consent_hash, &expected) {
        return Err(invalid(
            "consent_hash does not match what the transaction shows",
        ));
    }
    if claims.iat > now + DPOP_IAT_TOLERANCE_SECS || claims.exp <= now {
        return Err(invalid("the decision is not valid at this time"));
    }
    // Checked arithmetic: a signed iat/exp at the ends of i64 must not wrap into range.
    let lifetime = claims.exp.checked_sub(claims.iat);
    if !lifetime.is_some_and(|l| l > 0 && l <= DECISION_MAX_LIFETIME_SECS) {
        return Err(invalid(
            "the decision must expire within 120 seconds of iat",
        ));
    }
    if !jti_is_well_formed(&claims.jti) {
        return Err(invalid("jti must carry at least 96 bits"));
    }
    if claims.action == DecisionAction::Approve && claims.deny_reason.is_some() {
        return Err(invalid("deny_reason is only for deny"));
    }
    // An approval says how the user was verified; declining needs no verification.
    let amr_ok = (claims.action == DecisionAction::Deny || !claims.amr.is_empty())
        && claims.amr.len() <= 10
        && claims
            .amr
            .iter()
            .all(|v| !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_graphic()));
    if !amr_ok {
        return Err(invalid(
            "amr must list up to 10 RFC 8176 method values (at least one to approve)",
        ));
    }
    Ok(claims)
}
