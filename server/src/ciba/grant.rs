//! The token endpoint's CIBA grant (CIBA Core §10–11).

use crate::crypto::hash_secret;
use crate::http::body::FormParams;
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Client, DeliveryMode, PollOutcome, RequestStatus};
use crate::tokens::IssuedTokens;

fn error(code: &'static str, description: &str) -> ApiError {
    ApiError::bad_request(code, description.to_owned())
}

/// Answers a poll: pending → `authorization_pending` or `slow_down`; denied → `access_denied`;
/// expired → `expired_token`; approved → tokens, exactly once.
pub async fn redeem_with_ciba_grant(
    state: &AppState,
    client: &Client,
    params: &FormParams,
) -> ApiResult<IssuedTokens> {
    if client.delivery_mode == DeliveryMode::Push {
        return Err(error(
            "unauthorized_client",
            "push-mode clients receive tokens at their notification endpoint",
        ));
    }
    let auth_req_id = params.require("auth_req_id")?;
    let unknown = || error("invalid_grant", "unknown auth_req_id");
    if auth_req_id.len() > 256 {
        return Err(unknown());
    }
    let now = state.now();
    let hash = hash_secret(auth_req_id);
    // Most polls find the request still pending: one statement answers them.
    let step = state.settings.ciba.slow_down_step;
    match state
        .store
        .poll_pending(&hash, &client.id, now, step)
        .await?
    {
        Some(PollOutcome::Allowed) => {
            return Err(error(
                "authorization_pending",
                "the user has not decided yet",
            ));
        }
        Some(PollOutcome::TooFast) => {
            return Err(error(
                "slow_down",
                "polling too fast; wait longer between polls",
            ));
        }
        None => {}
    }
    let request = state
        .store
        .request_by_auth_req_id(&hash)
        .await?
        .ok_or_else(unknown)?;
    if request.client_id != client.id {
        return Err(unknown());
    }
    match request.status {
        RequestStatus::Redeemed => {
            return Err(error(
                "invalid_grant",
                "the tokens of this request were already issued",
            ));
        }
        RequestStatus::Cancelled => {
            return Err(error("access_denied", "the request was withdrawn"));
        }
        _ if now >= request.expires_at => {
            return Err(error("expired_token", "the request expired"));
        }
        RequestStatus::Denied => return Err(error("access_denied", "the user denied the request")),
        // Pending and unexpired was answered by the fast path above; a request seen pending
        // here expired in between.
        RequestStatus::Pending => return Err(error("expired_token", "the request expired")),
        RequestStatus::Approved => {}
    }
    // The user may have been removed or locked since approving.
    let user = state.store.user(&request.user_id).await?;
    let Some(user) = user.filter(|u| u.is_active()) else {
        return Err(error(
            "access_denied",
            "this user cannot be authenticated at the moment",
        ));
    };
    let tokens = super::mint_tokens(state, &request, &user, None, now).await?;
    // Tokens leave only if this call wins the approved → redeemed transition.
    if !state.store.redeem(&request.id, now).await? {
        return Err(error(
            "invalid_grant",
            "the tokens of this request were already issued",
        ));
    }
    tracing::info!(txn = %request.id, client = %client.id, "tokens issued");
    Ok(tokens)
}
