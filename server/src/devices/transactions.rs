use ciba_core::protocol::{ClientView, TransactionStatus, TransactionView};

use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{CibaRequest, RequestStatus};

/// How a stored request looks to the user's devices.
pub async fn transaction_view(
    state: &AppState,
    request: &CibaRequest,
) -> ApiResult<TransactionView> {
    let now = state.now();
    let status = match request.status {
        RequestStatus::Pending if now >= request.expires_at => TransactionStatus::Expired,
        RequestStatus::Pending => TransactionStatus::Pending,
        RequestStatus::Approved | RequestStatus::Redeemed => TransactionStatus::Approved,
        RequestStatus::Denied => TransactionStatus::Denied,
        RequestStatus::Cancelled => TransactionStatus::Cancelled,
    };
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
        Some(text) => Some(serde_json::from_str(text).map_err(ApiError::internal)?),
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

/// The pending, unexpired transactions of a user, newest first.
pub async fn transactions_of_user(
    state: &AppState,
    user_id: &str,
) -> ApiResult<Vec<TransactionView>> {
    let requests = state
        .store
        .pending_requests_of_user(user_id, state.now())
        .await?;
    let mut views = Vec::with_capacity(requests.len());
    for request in &requests {
        views.push(transaction_view(state, request).await?);
    }
    Ok(views)
}
