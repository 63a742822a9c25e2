//! JWTs a client signs with its registered keys: client assertions (`private_key_jwt`, RFC 7523)
//! and signed authentication requests (CIBA Core §7.1.1). One verifier — size, header, algorithm,
//! key, signature — and the claim checks both kinds share; each caller adds its own rules and
//! error code.

use ciba_core::jose::CompactJws;
use serde_json::{Map, Value};

use crate::error::Result;
use std::sync::Arc;

use crate::jwks::{ClientKey, JwsAlg, parse_jwks, verify_with};
use crate::state::AppState;
use crate::store::Client;

/// The longest signed JWT accepted (a request object with `authorization_details` included).
const MAX_JWT_BYTES: usize = 16 * 1024;
/// Clock skew tolerated on `exp`, `iat` and `nbf`, seconds.
pub const CLOCK_SKEW: i64 = 30;

/// Why a client's JWT is refused; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRefusal(pub String);

impl<T: Into<String>> From<T> for JwtRefusal {
    fn from(s: T) -> Self {
        Self(s.into())
    }
}

/// A client's JWT whose signature verified with one of its registered keys.
#[derive(Debug)]
pub struct VerifiedJwt {
    /// The claims (a JSON object).
    pub claims: Map<String, Value>,
}

/// Parses a client's JWT (at most 16 KiB) without verifying it.
pub fn parse_client_jwt(token: &str) -> std::result::Result<CompactJws, JwtRefusal> {
    if token.len() > MAX_JWT_BYTES {
        return Err(format!("longer than {MAX_JWT_BYTES} bytes").into());
    }
    CompactJws::parse(token).map_err(|_| "not a compact JWS".into())
}

/// Verifies `token` as signed by `client` with one of `allowed` algorithms and one of its keys
/// (`jwks`, or `jwks_uri` fetched through the cache). Store failures are errors; everything
/// about the token itself, and a `jwks_uri` that cannot be fetched, is a [`JwtRefusal`].
pub async fn verify_client_jwt(
    state: &AppState,
    client: &Client,
    token: &str,
    allowed: &[JwsAlg],
) -> Result<std::result::Result<VerifiedJwt, JwtRefusal>> {
    match parse_client_jwt(token) {
        Ok(jws) => verify_client_jws(state, client, &jws, allowed).await,
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// [`verify_client_jwt`] of a JWT already parsed with [`parse_client_jwt`].
pub async fn verify_client_jws(
    state: &AppState,
    client: &Client,
    jws: &CompactJws,
    allowed: &[JwsAlg],
) -> Result<std::result::Result<VerifiedJwt, JwtRefusal>> {
    let alg = match JwsAlg::parse(&jws.header.alg) {
        Some(alg) if allowed.contains(&alg) => alg,
        _ => {
            let names: Vec<_> = allowed.iter().map(|a| a.as_str()).collect();
            return Ok(Err(format!(
                "alg {:?} is not accepted here (use {})",
                jws.header.alg,
                names.join(" or ")
            )
            .into()));
        }
    };
    let kid = jws.header.kid.as_deref();
    let keys = match client_keys(state, client, kid).await {
        Ok(keys) => keys,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let verified = verify_with(
        &keys,
        kid,
        alg,
        jws.signing_input.as_bytes(),
        &jws.signature,
    );
    match verified {
        None => Ok(Err(match kid {
            Some(kid) => format!("no registered {} key has kid {kid:?}", alg.as_str()),
            None => format!("no registered key fits {}", alg.as_str()),
        }
        .into())),
        Some(false) => Ok(Err("the signature does not verify".into())),
        Some(true) => match jws.claims::<Value>() {
            Ok(Value::Object(claims)) => Ok(Ok(VerifiedJwt { claims })),
            _ => Ok(Err("the claims are not a JSON object".into())),
        },
    }
}

/// The client's registered keys: its `jwks`, or those at its `jwks_uri` (through the cache,
/// fetched again when `kid` is new to it).
pub async fn client_keys(
    state: &AppState,
    client: &Client,
    kid: Option<&str>,
) -> std::result::Result<Arc<Vec<ClientKey>>, JwtRefusal> {
    if let Some(jwks) = &client.jwks {
        let keys = serde_json::from_str::<Value>(jwks)
            .ok()
            .and_then(|v| parse_jwks(&v).ok())
            .map(|set| set.keys)
            .unwrap_or_default();
        Ok(Arc::new(keys))
    } else if let Some(uri) = &client.jwks_uri {
        let ttl = i64::try_from(state.settings.clients.jwks_uri_cache_seconds).unwrap_or(i64::MAX);
        state
            .client_keys
            .keys(&state.notifier, uri, kid, ttl, state.now())
            .await
            .map_err(|why| format!("the client's jwks_uri: {why}").into())
    } else {
        Err("the client registered no keys (jwks or jwks_uri)".into())
    }
}

impl VerifiedJwt {
    /// A string claim; `Err` when present but not a string.
    pub fn string(&self, name: &str) -> std::result::Result<Option<&str>, JwtRefusal> {
        match self.claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} must be a string").into()),
        }
    }

    /// A required string claim.
    pub fn required_string(&self, name: &str) -> std::result::Result<&str, JwtRefusal> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{name} is required").into())
    }

    /// A NumericDate claim (seconds; a fraction is cut off); `Err` when present but not a number.
    pub fn date(&self, name: &str) -> std::result::Result<Option<i64>, JwtRefusal> {
        match self.claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| format!("{name} is not a usable date").into()),
            Some(_) => Err(format!("{name} must be a number (NumericDate)").into()),
        }
    }

    /// A required NumericDate claim.
    pub fn required_date(&self, name: &str) -> std::result::Result<i64, JwtRefusal> {
        self.date(name)?
            .ok_or_else(|| format!("{name} is required").into())
    }

    /// Whether `aud` (a string or an array of strings) holds one of `accepted`.
    pub fn audience_is_one_of(&self, accepted: &[&str]) -> std::result::Result<(), JwtRefusal> {
        let matches = |v: &Value| v.as_str().is_some_and(|a| accepted.contains(&a));
        let ok = match self.claims.get("aud") {
            None => return Err("aud is required".into()),
            Some(Value::Array(values)) => values.iter().any(matches),
            Some(v) => matches(v),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("aud must be {}", accepted.join(" or ")).into())
        }
    }

    /// `jti`: required, 1 to 256 characters.
    pub fn jti(&self) -> std::result::Result<&str, JwtRefusal> {
        let jti = self.required_string("jti")?;
        if jti.len() > 256 {
            return Err("jti is longer than 256 characters".into());
        }
        Ok(jti)
    }
}

/// Records the first use of a client's `jti` for `purpose` until `until`, on every instance
/// ([`crate::store::remember_first_use`]): false when it was used before.
pub async fn first_use_of_jti(
    state: &AppState,
    purpose: &str,
    client_id: &str,
    jti: &str,
    until: i64,
) -> Result<bool> {
    let store = state.store.as_ref();
    Ok(
        crate::store::remember_first_use(store, purpose, client_id, jti, until, state.now())
            .await?,
    )
}
