//! The token endpoint's CIBA grant (CIBA Core §10–11).

use super::state::RequestState;
use crate::clients::AuthenticatedClient;
use crate::crypto::hash_secret;
use crate::error::{Error, OAuthCode, Result};
use crate::state::AppState;
use crate::store::{DeliveryMode, PollOutcome};
use crate::tokens::IssuedTokens;

/// A token request's grant, as the client sent it (RFC 6749 §4.1.3, CIBA Core §10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// `grant_type=urn:openid:params:grant-type:ciba`.
    Ciba(CibaGrant),
    /// `grant_type=refresh_token`.
    Refresh(crate::lifecycle::RefreshGrant),
}

/// The CIBA grant's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CibaGrant {
    /// `auth_req_id` (required).
    pub auth_req_id: Option<String>,
}

fn error(code: OAuthCode, description: &str) -> Error {
    Error::oauth(code, description)
}

/// Answers a token request.
pub async fn redeem(
    state: &AppState,
    client: &AuthenticatedClient,
    request: TokenRequest,
) -> Result<IssuedTokens> {
    match request {
        TokenRequest::Ciba(grant) => redeem_with_ciba_grant(state, client, grant).await,
        TokenRequest::Refresh(grant) => crate::lifecycle::refresh(state, client, grant).await,
    }
}

/// Answers a poll: pending → `authorization_pending` or `slow_down`; denied → `access_denied`;
/// expired → `expired_token`; approved → tokens, exactly once.
pub async fn redeem_with_ciba_grant(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: CibaGrant,
) -> Result<IssuedTokens> {
    if client.delivery_mode == DeliveryMode::Push {
        return Err(error(
            OAuthCode::UnauthorizedClient,
            "push-mode clients receive tokens at their notification endpoint",
        ));
    }
    client.require_fapi_certificate()?;
    let auth_req_id = grant
        .auth_req_id
        .ok_or_else(|| Error::invalid_request("parameter auth_req_id is missing"))?;
    let unknown = || error(OAuthCode::InvalidGrant, "unknown auth_req_id");
    if auth_req_id.len() > 256 {
        return Err(unknown());
    }
    let now = state.now();
    let hash = hash_secret(&auth_req_id);
    // Most polls find the request still pending: one statement answers them.
    let step = state.settings.ciba.slow_down_step;
    match state
        .store
        .poll_pending(&hash, &client.id, now, step)
        .await?
    {
        Some(PollOutcome::Allowed) => {
            return Err(error(
                OAuthCode::AuthorizationPending,
                "the user has not decided yet",
            ));
        }
        Some(PollOutcome::TooFast) => {
            return Err(error(
                OAuthCode::SlowDown,
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
    match RequestState::at(&request, now) {
        // Pending and unexpired at `now` was answered by the fast path above, which reads the
        // same row at the same `now`: seen pending here, the request expired.
        RequestState::Pending => return Err(error(OAuthCode::ExpiredToken, "the request expired")),
        state => state.poll_answer().into_result()?,
    }
    // The user may have been removed or locked since approving.
    let user = state.store.user(&request.user_id).await?;
    let Some(user) = user.filter(|u| u.is_active()) else {
        return Err(error(
            OAuthCode::AccessDenied,
            "this user cannot be authenticated at the moment",
        ));
    };
    let (tokens, refresh_token) = super::mint_tokens(
        state,
        client,
        &request,
        &user,
        None,
        client.certificate_thumbprint(),
        now,
    )
    .await?;
    // Tokens leave only if this call wins the approved → redeemed transition (which stores the
    // refresh token, if any, in the same transaction).
    let redeemed = match &refresh_token {
        None => state.store.redeem(&request.id, now).await?,
        Some(token) => {
            state
                .store
                .redeem_with_refresh_token(&request.id, now, token)
                .await?
        }
    };
    if !redeemed {
        return Err(error(
            OAuthCode::InvalidGrant,
            "the tokens of this request were already issued",
        ));
    }
    tracing::info!(txn = %request.id, client = %client.id, "tokens issued");
    Ok(tokens)
}
