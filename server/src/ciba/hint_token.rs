//! `login_hint_token` (CIBA Core §7.1): a JWT from an issuer the operator trusts
//! (`ciba.login_hint_token_issuers`) that names the user by an RFC 9493 subject identifier in
//! its `sub_id` claim. Signed (ES256, PS256, RS256) by one of the issuer's keys, `aud` this
//! server, `exp` required (`expired_login_hint_token` once past), `nbf`/`iat` not ahead.
//!
//! Subject identifier formats: `email` and `phone_number` (the user with that email or phone),
//! `iss_sub` (`iss` this server and `sub` a user's subject), `opaque` (`id` a username).

use ciba_core::jose::CompactJws;
use serde_json::Value;

use crate::clients::CLOCK_SKEW;
use crate::error::{Error, OAuthCode, Result};
use crate::jwks::{JwsAlg, parse_jwks, verify_with};
use crate::state::AppState;
use crate::store::User;

/// Longer than any hint token worth reading.
const MAX_HINT_TOKEN: usize = 8192;

fn refused(why: &str) -> Error {
    Error::invalid_request(format!("login_hint_token: {why}"))
}

/// The user a `login_hint_token` names, `None` when no user matches.
pub async fn user_of_login_hint_token(state: &AppState, token: &str) -> Result<Option<User>> {
    let issuers = &state.settings.ciba.login_hint_token_issuers;
    if issuers.is_empty() {
        return Err(refused(
            "not accepted by this server (no trusted issuer is configured)",
        ));
    }
    if token.len() > MAX_HINT_TOKEN {
        return Err(refused("too long"));
    }
    let jws = CompactJws::parse(token).map_err(|_| refused("not a signed JWT"))?;
    let alg = JwsAlg::parse(&jws.header.alg)
        .ok_or_else(|| refused("signed with an algorithm this server does not accept"))?;
    let claims: Value = jws
        .claims()
        .map_err(|_| refused("its claims are not JSON"))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let issuer = issuers
        .iter()
        .find(|i| i.issuer == iss)
        .ok_or_else(|| refused("from an issuer this server does not trust"))?;
    let kid = jws.header.kid.as_deref();
    let keys = match (&issuer.jwks, &issuer.jwks_uri) {
        (Some(jwks), _) => serde_json::from_str::<Value>(jwks)
            .ok()
            .and_then(|v| parse_jwks(&v).ok())
            .map(|set| set.keys)
            .unwrap_or_default()
            .into(),
        (None, Some(uri)) => {
            let ttl =
                i64::try_from(state.settings.clients.jwks_uri_cache_seconds).unwrap_or(i64::MAX);
            state
                .client_keys
                .keys(&state.notifier, uri, kid, ttl, state.now())
                .await
                .map_err(|why| {
                    tracing::warn!(issuer = iss, error = %why, "the login_hint_token issuer's keys are unavailable");
                    refused("the issuer's keys are unavailable")
                })?
        }
        (None, None) => return Err(refused("the issuer has no keys configured")),
    };
    if verify_with(
        &keys,
        kid,
        alg,
        jws.signing_input.as_bytes(),
        &jws.signature,
    ) != Some(true)
    {
        return Err(refused("the signature does not verify"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == &state.issuer,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&state.issuer)),
        _ => false,
    };
    if !audience_ok {
        return Err(refused("its aud is not this server"));
    }
    let now = state.now();
    let time = |name: &str| claims.get(name).map(Value::as_i64);
    match time("exp") {
        Some(Some(exp)) if exp > now => {}
        Some(Some(_)) => {
            return Err(Error::oauth(
                OAuthCode::ExpiredLoginHintToken,
                "the login_hint_token has expired",
            ));
        }
        _ => return Err(refused("exp is required (a number)")),
    }
    for name in ["nbf", "iat"] {
        match time(name) {
            None => {}
            Some(Some(at)) if at <= now + CLOCK_SKEW => {}
            Some(_) => return Err(refused(&format!("{name} is ahead or not a number"))),
        }
    }
    let sub_id = claims
        .get("sub_id")
        .and_then(Value::as_object)
        .ok_or_else(|| refused("sub_id (an RFC 9493 subject identifier) is required"))?;
    let member = |name: &str| {
        sub_id
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 256)
            .ok_or_else(|| refused(&format!("sub_id needs {name}")))
    };
    let store = &state.store;
    let user = match sub_id.get("format").and_then(Value::as_str) {
        Some("email") => {
            let email = member("email")?;
            store
                .user_by_login_hint(email)
                .await?
                .filter(|u| u.email.as_deref() == Some(email))
        }
        Some("phone_number") => {
            let phone = member("phone_number")?;
            store
                .user_by_login_hint(phone)
                .await?
                .filter(|u| u.phone.as_deref() == Some(phone))
        }
        Some("iss_sub") => {
            if member("iss")? != state.issuer {
                return Ok(None);
            }
            store.user_by_subject(member("sub")?).await?
        }
        Some("opaque") => {
            let id = member("id")?;
            store
                .user_by_login_hint(id)
                .await?
                .filter(|u| u.username == id)
        }
        _ => {
            return Err(refused(
                "sub_id format must be email, phone_number, iss_sub or opaque",
            ));
        }
    };
    Ok(user)
}
