use ciba_core::jose::{CompactJws, JoseError, JwsHeader, sign_compact};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::SigningKeys;
use crate::crypto::{left_half_hash, random_b64u};
use crate::jwks::JwsAlg;

/// What the tokens are issued for.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The issuer.
    pub issuer: &'a str,
    /// The audience of access tokens (the resource servers).
    pub access_token_audience: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// The algorithm of the ID token (the client's `id_token_signed_response_alg`).
    pub id_token_alg: JwsAlg,
    /// The algorithm of the access token (`tokens.access_token_signing_alg`).
    pub access_token_alg: JwsAlg,
    /// The user's subject.
    pub subject: &'a str,
    /// Granted scope.
    pub scope: &'a [String],
    /// Methods the device checked.
    pub amr: &'a [String],
    /// The authentication context class the approval met (a level the operator defines).
    pub acr: Option<&'a str>,
    /// When the user decided.
    pub auth_time: i64,
    /// Set for push-mode delivery: the ID token then carries the `auth_req_id` claim.
    pub auth_req_id: Option<&'a str>,
    /// The client certificate's `x5t#S256`: the access token is bound to it (RFC 8705 §3,
    /// `cnf`).
    pub certificate_thumbprint: Option<&'a str>,
    /// The refresh token issued with these tokens, if any: a push-mode ID token then carries
    /// its hash (`urn:openid:params:jwt:claim:rt_hash`, CIBA Core §10.3.1).
    pub refresh_token: Option<&'a str>,
    /// Now.
    pub now: i64,
    /// Access token lifetime.
    pub access_token_ttl: i64,
    /// ID token lifetime.
    pub id_token_ttl: i64,
}

/// The token response body.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedTokens {
    /// RFC 9068 JWT access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// The ID token.
    pub id_token: String,
    /// Granted scope.
    pub scope: String,
    /// The refresh token, for clients that registered the `refresh_token` grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The access token's `jti` (not sent: recorded so that the token can be revoked).
    #[serde(skip)]
    pub access_jti: String,
    /// The access token's expiry (not sent).
    #[serde(skip)]
    pub access_expires_at: i64,
}

/// Signs an access token (RFC 9068) and an ID token for an approved request.
pub fn issue_tokens(keys: &SigningKeys, req: &TokenRequest<'_>) -> Result<IssuedTokens, JoseError> {
    let no_key = |alg: JwsAlg| JoseError::Signing(format!("no {} signing key", alg.as_str()));
    let key = keys
        .active(req.access_token_alg, req.now)
        .ok_or_else(|| no_key(req.access_token_alg))?;
    let scope = req.scope.join(" ");
    let jti = random_b64u(16).map_err(|e| JoseError::Signing(e.to_string()))?;
    let access_claims = json!({
        "iss": req.issuer,
        "sub": req.subject,
        "aud": req.access_token_audience,
        "client_id": req.client_id,
        "iat": req.now,
        "exp": req.now + req.access_token_ttl,
        "jti": &jti,
        "scope": scope,
        "auth_time": req.auth_time,
        "amr": req.amr,
    });
    let mut access_claims = access_claims;
    if let Some(claims) = access_claims.as_object_mut() {
        if let Some(acr) = req.acr {
            claims.insert("acr".into(), json!(acr));
        }
        if let Some(thumbprint) = req.certificate_thumbprint {
            claims.insert("cnf".into(), json!({"x5t#S256": thumbprint}));
        }
    }
    let at_header = JwsHeader {
        alg: req.access_token_alg.as_str().into(),
        typ: Some("at+jwt".into()),
        kid: Some(key.kid().into()),
        jwk: None,
    };
    let access_token = sign_compact(&at_header, &access_claims, key)?;

    let mut id_claims = Map::new();
    id_claims.insert("iss".into(), json!(req.issuer));
    id_claims.insert("sub".into(), json!(req.subject));
    id_claims.insert("aud".into(), json!(req.client_id));
    id_claims.insert("iat".into(), json!(req.now));
    id_claims.insert("exp".into(), json!(req.now + req.id_token_ttl));
    id_claims.insert("auth_time".into(), json!(req.auth_time));
    id_claims.insert("amr".into(), json!(req.amr));
    if let Some(acr) = req.acr {
        id_claims.insert("acr".into(), json!(acr));
    }
    id_claims.insert("at_hash".into(), json!(left_half_hash(&access_token)));
    if let Some(auth_req_id) = req.auth_req_id {
        id_claims.insert(
            "urn:openid:params:jwt:claim:auth_req_id".into(),
            json!(auth_req_id),
        );
        if let Some(refresh_token) = req.refresh_token {
            id_claims.insert(
                "urn:openid:params:jwt:claim:rt_hash".into(),
                json!(left_half_hash(refresh_token)),
            );
        }
    }
    let id_key = keys
        .active(req.id_token_alg, req.now)
        .ok_or_else(|| no_key(req.id_token_alg))?;
    let id_header = JwsHeader {
        alg: req.id_token_alg.as_str().into(),
        typ: Some("JWT".into()),
        kid: Some(id_key.kid().into()),
        jwk: None,
    };
    let id_token = sign_compact(&id_header, &Value::Object(id_claims), id_key)?;

    Ok(IssuedTokens {
        access_token,
        token_type: "Bearer",
        expires_in: req.access_token_ttl,
        id_token,
        scope,
        refresh_token: req.refresh_token.map(str::to_owned),
        access_jti: jti,
        access_expires_at: req.now + req.access_token_ttl,
    })
}

/// Checks that `token` is an ID token this server issued to `client_id` (signature by one of its
/// keys, `iss`, `aud`) and returns its subject. Expired tokens are accepted, as CIBA allows for
/// `id_token_hint`; a token issued to another client is not (it would let one client ask about
/// another client's users by their tokens).
pub fn verify_own_id_token(
    keys: &SigningKeys,
    issuer: &str,
    client_id: &str,
    token: &str,
    now: i64,
) -> Option<String> {
    let claims = own_jws_claims(keys, issuer, token, now, |typ| typ != Some("at+jwt"))?;
    let issued_to_client = match claims.get("aud")? {
        Value::String(aud) => aud == client_id,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !issued_to_client {
        return None;
    }
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// The claims of `token` when it is an access token this server issued (`typ: at+jwt`, signed
/// by one of its keys, its `iss`) that has not expired at `now`.
pub fn verify_own_access_token(
    keys: &SigningKeys,
    issuer: &str,
    token: &str,
    now: i64,
) -> Option<Map<String, Value>> {
    let claims = own_jws_claims(keys, issuer, token, now, |typ| typ == Some("at+jwt"))?;
    let fresh = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > now);
    fresh.then_some(claims)
}

/// The claims of a JWS this server signed: by one of its published keys at `now` (by `kid`,
/// with that key's algorithm), a `typ` that `typ_ok` accepts, `iss` this issuer, the claims an
/// object.
fn own_jws_claims(
    keys: &SigningKeys,
    issuer: &str,
    token: &str,
    now: i64,
    typ_ok: impl Fn(Option<&str>) -> bool,
) -> Option<Map<String, Value>> {
    let jws = CompactJws::parse(token).ok()?;
    let alg = JwsAlg::parse(&jws.header.alg)?;
    if !typ_ok(jws.header.typ.as_deref()) {
        return None;
    }
    let key = keys.by_kid(jws.header.kid.as_deref()?, now)?;
    if !key.verifies(alg, jws.signing_input.as_bytes(), &jws.signature) {
        return None;
    }
    match jws.claims::<Value>().ok()? {
        Value::Object(claims) if claims.get("iss").and_then(Value::as_str) == Some(issuer) => {
            Some(claims)
        }
        _ => None,
    }
}
