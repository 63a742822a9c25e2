//! The CIBA request: validation of backchannel authentication requests, the state machine,
//! and the token grant.

mod backchannel;
mod grant;
mod validate;

pub use backchannel::{BackchannelResponse, start_request};
pub use grant::redeem_with_ciba_grant;
pub use validate::{is_scope_token, validate_binding_message, validate_requested_expiry};

/// The CIBA grant type.
pub const CIBA_GRANT_TYPE: &str = "urn:openid:params:grant-type:ciba";

/// Signs the tokens of an approved request for its user: the one place that turns a request into
/// a [`crate::tokens::TokenRequest`]. `auth_req_id` is set for push-mode delivery (the ID token
/// then carries it).
pub async fn mint_tokens(
    state: &crate::state::AppState,
    request: &crate::store::CibaRequest,
    user: &crate::store::User,
    auth_req_id: Option<&str>,
    now: i64,
) -> crate::http::error::ApiResult<crate::tokens::IssuedTokens> {
    let tokens = &state.settings.tokens;
    let audience = tokens
        .access_token_audience
        .as_deref()
        .unwrap_or(&state.issuer);
    crate::tokens::issue_tokens(
        state.keys().await?,
        &crate::tokens::TokenRequest {
            issuer: &state.issuer,
            access_token_audience: audience,
            client_id: &request.client_id,
            subject: &user.subject,
            scope: &request.scope,
            amr: &request.amr,
            auth_time: request.decided_at.unwrap_or(now),
            auth_req_id,
            now,
            access_token_ttl: tokens.access_token_ttl,
            id_token_ttl: tokens.id_token_ttl,
        },
    )
    .map_err(crate::http::error::ApiError::internal)
}
