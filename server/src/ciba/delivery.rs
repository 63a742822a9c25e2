//! What a push-mode client is sent (CIBA Core §10.3): the token response, minted here once, or
//! the error the request came to. The client-notification worker sends whatever this returns;
//! ping mode needs nothing from here (a ping only carries the `auth_req_id`).

use serde_json::{Value, json};

use super::state::{PushModeDelivery, RequestState};
use crate::error::Error;
use crate::state::AppState;
use crate::store::{CibaRequest, ClientNotificationEntry};

/// The body of a push-mode notification about `request`, with `auth_req_id`.
///
/// An approval is minted into tokens and the request redeemed in the same write that stores the
/// body on the notification, so a retried delivery resends the same tokens and a second mint is
/// impossible. An error body is stored too, so every attempt sends the same thing.
pub async fn push_mode_body(
    state: &AppState,
    entry: &ClientNotificationEntry,
    request: &CibaRequest,
    auth_req_id: &str,
    now: i64,
) -> Result<Value, Error> {
    let error = |code: &str, description: &str| json!({"auth_req_id": auth_req_id, "error": code, "error_description": description});
    let body = match RequestState::at(request, now).push_mode_delivery() {
        PushModeDelivery::Tokens => {
            let user = state.store.user(&request.user_id).await?;
            match user.filter(|u| u.is_active()) {
                None => error(
                    "access_denied",
                    "the user cannot be authenticated at the moment",
                ),
                Some(user) => {
                    let Some(client) = state
                        .clients
                        .get(state.store.as_ref(), &request.client_id)
                        .await?
                    else {
                        return Err(Error::internal("a push-mode request's client is gone"));
                    };
                    let (tokens, refresh_token) = super::mint_tokens(
                        state,
                        &client,
                        request,
                        &user,
                        Some(auth_req_id),
                        None,
                        now,
                    )
                    .await?;
                    let mut body = serde_json::to_value(&tokens).map_err(Error::internal)?;
                    body["auth_req_id"] = json!(auth_req_id);
                    // Tokens are minted once: the body is stored with the redemption (and the
                    // refresh token's record with it).
                    if state
                        .store
                        .store_push_mode_tokens(
                            entry.id,
                            &request.id,
                            &body.to_string(),
                            now,
                            refresh_token.as_ref(),
                        )
                        .await?
                    {
                        return Ok(body);
                    }
                    error("transaction_failed", "the request was withdrawn")
                }
            }
        }
        PushModeDelivery::Error(code, description) => error(code, description),
    };
    state
        .store
        .store_push_mode_payload(entry.id, &body.to_string())
        .await?;
    Ok(body)
}
