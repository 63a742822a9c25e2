//! What the user's devices see of their CIBA requests (DEVICE-PROTOCOL.md §5).

use ciba_core::protocol::{ClientView, TransactionList, TransactionView};

use super::AuthenticatedDevice;
use crate::ciba::RequestState;
use crate::error::{DeviceCode, Error, Result};
use crate::state::AppState;
use crate::store::CibaRequest;

/// How a stored request looks to the user's devices at `now`.
async fn transaction_view(
    state: &AppState,
    request: &CibaRequest,
    now: i64,
) -> Result<TransactionView> {
    let status = RequestState::at(request, now).device_view();
    let client = state.store.client(&request.client_id).await?;
    let client = match client {
        Some(c) => ClientView {
            client_id: c.id,
            name: c.name,
            logo_uri: c.logo_uri,
        },
        // The client was deleted; its requests are cancelled, but the record stays readable.
        None => ClientView {
            client_id: request.client_id.clone(),
            name: request.client_id.clone(),
            logo_uri: None,
        },
    };
    let authorization_details = match &request.authorization_details {
        Some(text) => Some(serde_json::from_str(text).map_err(Error::internal)?),
        None => None,
    };
    Ok(TransactionView {
        id: request.id.clone(),
        status,
        client,
        scope: request.scope.clone(),
        acr_values: request.acr_values.clone(),
        binding_message: request.binding_message.clone(),
        authorization_details,
        user_code_required: false,
        requested_at: request.created_at,
        expires_at: request.expires_at,
        challenge: request.challenge.clone(),
    })
}

/// `GET /device/v1/transactions/{txn_id}`: one of the device's user's transactions; any other
/// transaction is "not found", whether it exists or not.
pub async fn transaction(
    state: &AppState,
    device: &AuthenticatedDevice,
    txn_id: &str,
) -> Result<TransactionView> {
    let request = state.store.request(txn_id).await?;
    let request = request
        .filter(|r| r.user_id == device.user_id)
        .ok_or_else(|| Error::device(DeviceCode::NotFound, "no such transaction"))?;
    transaction_view(state, &request, state.now()).await
}

/// `GET /device/v1/transactions`: the pending, unexpired transactions of the device's user,
/// newest first.
pub async fn transactions(
    state: &AppState,
    device: &AuthenticatedDevice,
) -> Result<TransactionList> {
    let now = state.now();
    let requests = state
        .store
        .pending_requests_of_user(&device.user_id, now)
        .await?;
    let mut transactions = Vec::with_capacity(requests.len());
    for request in &requests {
        transactions.push(transaction_view(state, request, now).await?);
    }
    Ok(TransactionList { transactions })
}
