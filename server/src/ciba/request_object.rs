//! Signed authentication requests (CIBA Core §7.1.1; FAPI-CIBA §5.2.2): the backchannel request's
//! parameters inside a JWT the client signed with its registered
//! `backchannel_authentication_request_signing_alg`.

use serde_json::Value;

use super::BackchannelRequest;
use crate::clients::{
    AuthenticatedClient, CLOCK_SKEW, JwtRefusal, VerifiedJwt, first_use_of_jti, verify_client_jwt,
};
use crate::error::{Error, Result};
use crate::jwks::JwsAlg;
use crate::state::AppState;

/// The longest a request object may be valid (`exp − nbf`), and the oldest its `nbf` may be.
const MAX_VALIDITY: i64 = 3600;

/// The request the client means: the parameters of its signed `request` when it registered a
/// signing algorithm (it must send one then, and a FAPI client must have registered one), the
/// form's parameters otherwise. Every failure is `invalid_request` (CIBA Core §13).
pub async fn effective_request(
    state: &AppState,
    client: &AuthenticatedClient,
    params: BackchannelRequest,
) -> Result<BackchannelRequest> {
    if params.request_uri.is_some() {
        return Err(Error::invalid_request(
            "request_uri is not supported; send the signed request by value (request)",
        ));
    }
    let registered = client
        .request_signing_alg
        .as_deref()
        .and_then(JwsAlg::parse);
    let Some(token) = params.request.as_deref() else {
        if client.fapi || registered.is_some() {
            return Err(Error::invalid_request(
                "this client signs its authentication requests: send them as a signed JWT in request",
            ));
        }
        return Ok(params);
    };
    let Some(alg) = registered else {
        return Err(Error::invalid_request(
            "this client registered no backchannel_authentication_request_signing_alg, so it cannot send signed requests",
        ));
    };
    let without_request = BackchannelRequest {
        request: None,
        ..params.clone()
    };
    if without_request != BackchannelRequest::default() {
        return Err(Error::invalid_request(
            "with a signed request, every authentication parameter goes inside it, none in the form",
        ));
    }
    let refused = |why: JwtRefusal| Error::invalid_request(format!("request: {}", why.0));
    let jwt = verify_client_jwt(state, client, token, &[alg])
        .await?
        .map_err(refused)?;
    let now = state.now();
    let (exp, jti) = check_claims(&jwt, &state.issuer, &client.id, now).map_err(refused)?;
    let request = parameters(&jwt).map_err(refused)?;
    if !first_use_of_jti(state, "request", &client.id, jti, exp + CLOCK_SKEW + 1).await? {
        return Err(refused("this jti was used before".into()));
    }
    Ok(request)
}

/// The registered claims: `aud` the issuer, `iss` the client, `exp`, `iat`, `nbf` and `jti`
/// present, `nbf` not ahead and at most 60 minutes old, at most 60 minutes between `nbf` and
/// `exp`. Returns `exp` and `jti`.
fn check_claims<'a>(
    jwt: &'a VerifiedJwt,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> std::result::Result<(i64, &'a str), JwtRefusal> {
    jwt.audience_is_one_of(&[issuer])?;
    if jwt.required_string("iss")? != client_id {
        return Err("iss must be the client id".into());
    }
    if jwt.string("client_id")?.is_some_and(|id| id != client_id) {
        return Err("client_id is not the authenticated client".into());
    }
    let exp = jwt.required_date("exp")?;
    let iat = jwt.required_date("iat")?;
    let nbf = jwt.required_date("nbf")?;
    let jti = jwt.jti()?;
    if exp + CLOCK_SKEW <= now {
        return Err("expired (exp)".into());
    }
    if iat > now + CLOCK_SKEW {
        return Err("iat is in the future".into());
    }
    if nbf > now + CLOCK_SKEW {
        return Err("not valid yet (nbf is in the future)".into());
    }
    if now - nbf > MAX_VALIDITY {
        return Err("nbf is more than 60 minutes in the past".into());
    }
    if exp - nbf > MAX_VALIDITY {
        return Err("valid for more than 60 minutes (exp − nbf)".into());
    }
    Ok((exp, jti))
}

/// The authentication parameters, from the claims only.
fn parameters(jwt: &VerifiedJwt) -> std::result::Result<BackchannelRequest, JwtRefusal> {
    let text = |name: &str| -> std::result::Result<Option<String>, JwtRefusal> {
        Ok(jwt
            .string(name)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    };
    let requested_expiry = match jwt.claims.get("requested_expiry") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("requested_expiry must be a number".into()),
    };
    let authorization_details = match jwt.claims.get("authorization_details") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(details @ Value::Array(_)) => Some(details.to_string()),
        Some(_) => return Err("authorization_details must be a JSON array".into()),
    };
    Ok(BackchannelRequest {
        scope: text("scope")?,
        client_notification_token: text("client_notification_token")?,
        acr_values: text("acr_values")?,
        login_hint_token: text("login_hint_token")?,
        id_token_hint: text("id_token_hint")?,
        login_hint: text("login_hint")?,
        binding_message: text("binding_message")?,
        user_code: text("user_code")?,
        requested_expiry,
        authorization_details,
        request: None,
        request_uri: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: Value) -> VerifiedJwt {
        VerifiedJwt {
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    fn valid(now: i64) -> Value {
        json!({"aud": "https://as.example", "iss": "c1", "exp": now + 300, "iat": now,
               "nbf": now, "jti": "j1", "scope": "openid", "login_hint": "alice",
               "requested_expiry": 120})
    }

    #[test]
    fn registered_claims() {
        let now = 1_000_000;
        let check = |claims: Value| {
            check_claims(&jwt(claims), "https://as.example", "c1", now)
                .map(|(exp, jti)| (exp, jti.to_owned()))
        };
        assert_eq!(check(valid(now)).unwrap(), (now + 300, "j1".to_owned()));
        let with = |k: &str, v: Value| {
            let mut c = valid(now);
            c[k] = v;
            check(c)
        };
        let without = |k: &str| {
            let mut c = valid(now);
            c.as_object_mut().unwrap().remove(k);
            check(c)
        };
        for claim in ["aud", "iss", "exp", "iat", "nbf", "jti"] {
            assert!(without(claim).is_err(), "{claim} missing");
        }
        assert!(with("aud", json!("https://other.example")).is_err());
        assert!(with("aud", json!(["x", "https://as.example"])).is_ok());
        assert!(with("iss", json!("c2")).is_err());
        assert!(with("exp", json!(now - 60)).is_err());
        assert!(with("exp", json!(now + 70 * 60)).is_err());
        assert!(with("nbf", json!(now + 600)).is_err());
        assert!(with("nbf", json!(now - 70 * 60)).is_err());
        assert!(with("iat", json!(now + 600)).is_err());
        assert!(with("exp", json!("soon")).is_err());
        assert!(with("client_id", json!("c2")).is_err());
    }

    #[test]
    fn parameters_come_from_the_claims() {
        let mut claims = valid(0);
        claims["authorization_details"] = json!([{"type": "payment_initiation"}]);
        let request = parameters(&jwt(claims)).unwrap();
        assert_eq!(request.scope.as_deref(), Some("openid"));
        assert_eq!(request.requested_expiry.as_deref(), Some("120"));
        assert_eq!(
            request.authorization_details.as_deref(),
            Some(r#"[{"type":"payment_initiation"}]"#)
        );
        let mut claims = valid(0);
        claims["binding_message"] = json!(42);
        assert!(parameters(&jwt(claims)).is_err());
    }
}
