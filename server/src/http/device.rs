//! The device API's handlers (DEVICE-PROTOCOL.md): the device's proof first (a DPoP proof, and
//! for most calls the enrolled key behind it), then the body, then one operation of
//! `crate::devices`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::{
    DecisionRequest, DecisionResponse, DeviceStatusResponse, EnrollmentRequest, EnrollmentResponse,
    ErrorBody, KeyRotationRequest, KeyRotationResponse, PushRegistration, TransactionList,
    TransactionView,
};

use super::error::ApiResult;
use super::extractors::{DeviceJson, PathParam};
use super::routes::no_store;
use crate::devices::{self, AuthenticatedDevice, DeviceProof};
use crate::state::AppState;

/// The `{txn_id}` of a transaction's path.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // It only describes the parameter: `PathParam` reads it.
pub struct TxnId {
    /// The transaction id (from the wake-up push or the transaction list).
    #[param(min_length = 1)]
    txn_id: String,
}

#[utoipa::path(post, path = "/device/v1/enrollments", tag = "device", request_body = EnrollmentRequest, responses((status = 201, description = "Enrolled", body = EnrollmentResponse), (status = 409, description = "This key is enrolled already", body = ErrorBody)))]
pub(super) async fn device_enroll(
    State(state): State<AppState>,
    proof: DeviceProof,
    DeviceJson(request): DeviceJson<EnrollmentRequest>,
) -> ApiResult<Response> {
    let enrolled = devices::enroll(&state, proof, request).await?;
    Ok((StatusCode::CREATED, no_store(enrolled)).into_response())
}

#[utoipa::path(get, path = "/device/v1/transactions", tag = "device", responses((status = 200, description = "The pending transactions of the device's user", body = TransactionList)))]
pub(super) async fn device_transactions(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
) -> ApiResult<Response> {
    Ok(no_store(devices::transactions(&state, &device).await?))
}

#[utoipa::path(get, path = "/device/v1/transactions/{txn_id}", tag = "device", params(TxnId), responses((status = 200, description = "The transaction, as the phone shows it", body = TransactionView), (status = 404, description = "No such transaction for this device", body = ErrorBody), (status = 410, description = "The transaction expired", body = ErrorBody)))]
pub(super) async fn device_transaction(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    PathParam(txn_id): PathParam,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::transaction(&state, &device, &txn_id).await?,
    ))
}

#[utoipa::path(post, path = "/device/v1/transactions/{txn_id}/decision", tag = "device", params(TxnId), request_body = DecisionRequest, responses((status = 200, description = "The decision is recorded", body = DecisionResponse), (status = 404, description = "No such transaction for this device", body = ErrorBody), (status = 409, description = "Decided already", body = ErrorBody), (status = 410, description = "The transaction expired", body = ErrorBody)))]
pub(super) async fn device_decision(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    PathParam(txn_id): PathParam,
    DeviceJson(request): DeviceJson<DecisionRequest>,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::record_decision(&state, &device, &txn_id, request).await?,
    ))
}

#[utoipa::path(get, path = "/device/v1/device", tag = "device", responses((status = 200, description = "Whether the device is enrolled and active", body = DeviceStatusResponse)))]
pub(super) async fn device_status(
    State(state): State<AppState>,
    proof: DeviceProof,
) -> ApiResult<Response> {
    Ok(no_store(devices::status(&state, &proof).await?))
}

#[utoipa::path(put, path = "/device/v1/push-token", tag = "device", request_body = PushRegistration, responses((status = 204, description = "The push registration is replaced")))]
pub(super) async fn device_push_token(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    DeviceJson(push): DeviceJson<PushRegistration>,
) -> ApiResult<StatusCode> {
    devices::update_push_token(&state, &device, push).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/device/v1/key-rotation", tag = "device", request_body = KeyRotationRequest, responses((status = 200, description = "The device now uses the new key", body = KeyRotationResponse), (status = 409, description = "The new key is another device's", body = ErrorBody)))]
pub(super) async fn device_key_rotation(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    DeviceJson(request): DeviceJson<KeyRotationRequest>,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::rotate_key(&state, &device, request).await?,
    ))
}

#[utoipa::path(delete, path = "/device/v1/device", tag = "device", responses((status = 204, description = "Unenrolled (revoked)")))]
pub(super) async fn device_unenroll(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
) -> ApiResult<StatusCode> {
    devices::unenroll(&state, &device).await?;
    Ok(StatusCode::NO_CONTENT)
}
