//! Token revocation (RFC 7009). Revoking a refresh token ends its whole grant: every refresh
//! token of the family and the access tokens they were issued with (§2.1 "SHOULD"). Revoking
//! an access token ends that token (UserInfo and introspection refuse it). Revoking twice, or a
//! token the server does not know or that expired already, answers 200 like the first time
//! (§2.2); a token issued to another client is refused (§2.1) and stays valid.

use serde_json::Value;

use super::{Presented, access_token_client, find};
use crate::clients::AuthenticatedClient;
use crate::error::{Error, OAuthCode, Result};
use crate::state::AppState;

/// `POST /revoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationRequest {
    /// `token` (required).
    pub token: Option<String>,
    /// `token_type_hint`: `access_token` or `refresh_token` (others are ignored).
    pub token_type_hint: Option<String>,
}

fn not_yours() -> Error {
    Error::oauth(
        OAuthCode::UnauthorizedClient,
        "the token was not issued to this client",
    )
}

/// Revokes the token, if it is one of the caller's.
pub async fn revoke(
    state: &AppState,
    client: &AuthenticatedClient,
    request: RevocationRequest,
) -> Result<()> {
    let token = request
        .token
        .ok_or_else(|| Error::invalid_request("parameter token is missing"))?;
    let now = state.now();
    match find(state, &token, request.token_type_hint.as_deref(), now).await? {
        None => {}
        Some(Presented::Access(claims)) => {
            if access_token_client(&claims) != Some(client.id.as_str()) {
                return Err(not_yours());
            }
            let jti = claims
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
            state.store.revoke_access_token(jti, exp, now).await?;
            state.metrics.token_revoked();
            tracing::info!(client = %client.id, "access token revoked");
        }
        Some(Presented::Refresh(t)) => {
            if t.client_id != client.id {
                return Err(not_yours());
            }
            if state.store.revoke_refresh_family(&t.family_id, now).await? > 0 {
                state.metrics.token_revoked();
                tracing::info!(client = %client.id, "refresh token revoked with its grant");
            }
        }
    }
    Ok(())
}
