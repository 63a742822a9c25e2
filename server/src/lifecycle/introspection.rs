//! Token introspection (RFC 7662): a client asks whether a token it holds is active. Only the
//! client a token was issued to learns anything about it; for any other caller, and for a token
//! that expired, was revoked, was used up (a rotated refresh token) or whose user is locked or
//! gone, the answer is `{"active": false}`.

use serde_json::{Map, Value, json};

use super::{Presented, access_token_client, find};
use crate::clients::AuthenticatedClient;
use crate::error::{Error, Result};
use crate::state::AppState;

/// `POST /introspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntrospectionRequest {
    /// `token` (required).
    pub token: Option<String>,
    /// `token_type_hint`: `access_token` or `refresh_token` (others are ignored).
    pub token_type_hint: Option<String>,
}

/// The introspection answer.
pub async fn introspect(
    state: &AppState,
    client: &AuthenticatedClient,
    request: IntrospectionRequest,
) -> Result<Value> {
    let token = request
        .token
        .ok_or_else(|| Error::invalid_request("parameter token is missing"))?;
    let now = state.now();
    let inactive = json!({"active": false});
    let found = find(state, &token, request.token_type_hint.as_deref(), now).await?;
    let answer = match found {
        None => return Ok(inactive),
        Some(Presented::Access(claims)) => {
            if access_token_client(&claims) != Some(client.id.as_str()) {
                return Ok(inactive);
            }
            let jti = claims
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if state.store.access_token_revoked(jti, now).await? {
                return Ok(inactive);
            }
            let subject = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let active_user = state
                .store
                .user_by_subject(subject)
                .await?
                .is_some_and(|u| u.is_active());
            if !active_user {
                return Ok(inactive);
            }
            let mut answer = Map::new();
            answer.insert("active".into(), json!(true));
            answer.insert("token_type".into(), json!("Bearer"));
            for name in [
                "scope",
                "client_id",
                "sub",
                "aud",
                "iss",
                "exp",
                "iat",
                "jti",
                "auth_time",
                "acr",
                "amr",
                "cnf",
            ] {
                if let Some(value) = claims.get(name) {
                    answer.insert(name.into(), value.clone());
                }
            }
            answer
        }
        Some(Presented::Refresh(t)) => {
            let usable = t.client_id == client.id
                && t.used_at.is_none()
                && t.revoked_at.is_none()
                && t.expires_at > now;
            if !usable {
                return Ok(inactive);
            }
            let Some(user) = state
                .store
                .user(&t.user_id)
                .await?
                .filter(|u| u.is_active())
            else {
                return Ok(inactive);
            };
            let mut answer = Map::new();
            answer.insert("active".into(), json!(true));
            answer.insert("token_type".into(), json!("refresh_token"));
            answer.insert("scope".into(), json!(t.scope.join(" ")));
            answer.insert("client_id".into(), json!(t.client_id));
            answer.insert("sub".into(), json!(user.subject));
            answer.insert("iss".into(), json!(state.issuer));
            answer.insert("exp".into(), json!(t.expires_at));
            answer.insert("iat".into(), json!(t.created_at));
            answer.insert("auth_time".into(), json!(t.auth_time));
            if let Some(thumbprint) = &t.certificate_thumbprint {
                answer.insert("cnf".into(), json!({"x5t#S256": thumbprint}));
            }
            answer
        }
    };
    Ok(Value::Object(answer))
}
