//! The UserInfo endpoint (OpenID Connect Core §5.3): the protected resource the server's own
//! access tokens open. Bearer tokens (RFC 6750); a token bound to a client certificate
//! (`cnf.x5t#S256`, RFC 8705 §3) is accepted only with that certificate.

use serde_json::{Map, Value, json};

use crate::clients::certificate_thumbprint;
use crate::crypto::constant_time_eq;
use crate::error::{Error, OAuthCode, Result};
use crate::state::AppState;

fn invalid_token(description: &str) -> Error {
    Error::oauth(OAuthCode::InvalidToken, description)
}

/// The claims of the user an access token was issued for, by its scope: `sub` always;
/// `profile`: `name`, `preferred_username`; `email`: `email`; `phone`: `phone_number`.
/// `certificates` is the request's client certificate chain (leaf first), if any.
pub async fn userinfo(
    state: &AppState,
    access_token: Option<&str>,
    certificates: Option<&[Vec<u8>]>,
) -> Result<Value> {
    let Some(token) = access_token else {
        return Err(invalid_token(
            "an access token is required (Authorization: Bearer)",
        ));
    };
    let keys = state.keys().await?;
    let now = state.now();
    let Some(claims) = crate::tokens::verify_own_access_token(&keys, &state.issuer, token, now)
    else {
        return Err(invalid_token(
            "the access token is not one this server issued, or it expired",
        ));
    };
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if state.store.access_token_revoked(jti, now).await? {
        return Err(invalid_token("the access token was revoked"));
    }
    if let Some(bound) = claims
        .get("cnf")
        .and_then(|c| c.get("x5t#S256"))
        .and_then(Value::as_str)
    {
        let presented = certificates
            .and_then(|chain| chain.first())
            .map(|leaf| certificate_thumbprint(leaf));
        if !presented.is_some_and(|p| constant_time_eq(&p, bound)) {
            return Err(invalid_token(
                "the access token is bound to a client certificate, and this request does not present it",
            ));
        }
    }
    let scope: Vec<&str> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .collect();
    if !scope.contains(&"openid") {
        return Err(Error::oauth(
            OAuthCode::InsufficientScope,
            "the access token was not issued for the openid scope",
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(user) = state
        .store
        .user_by_subject(subject)
        .await?
        .filter(|u| u.is_active())
    else {
        return Err(invalid_token("the token's user is no longer active"));
    };
    let mut answer = Map::new();
    answer.insert("sub".into(), json!(user.subject));
    if scope.contains(&"profile") {
        answer.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = &user.display_name {
            answer.insert("name".into(), json!(name));
        }
    }
    if scope.contains(&"email")
        && let Some(email) = &user.email
    {
        answer.insert("email".into(), json!(email));
    }
    if scope.contains(&"phone")
        && let Some(phone) = &user.phone
    {
        answer.insert("phone_number".into(), json!(phone));
    }
    Ok(Value::Object(answer))
}
