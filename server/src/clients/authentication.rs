use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::{hash_secret, secret_matches};
use crate::http::body::FormParams;
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Client, ClientAuthMethod};

/// Authenticates the client of an OAuth request by `client_secret_basic` or
/// `client_secret_post`, whichever it registered. Any failure is `401 invalid_client`, except a
/// request that uses two methods at once, which is `invalid_request` (RFC 6749 §2.3).
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &FormParams,
) -> ApiResult<Client> {
    let basic = basic_credentials(headers)?;
    let post_secret = params.get("client_secret");
    let (client_id, secret, method) = match (basic, post_secret) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(ApiError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (id, secret, ClientAuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| ApiError::invalid_client("client_id is missing", false))?;
            (
                id.to_owned(),
                secret.to_owned(),
                ClientAuthMethod::ClientSecretPost,
            )
        }
        (None, None) => {
            return Err(ApiError::invalid_client(
                "client authentication is required",
                true,
            ));
        }
    };
    let is_basic = method == ClientAuthMethod::ClientSecretBasic;
    let client = state.clients.get(state.store.as_ref(), &client_id).await?;
    let Some(client) = client else {
        // Hash anyway so an unknown client costs the same as a wrong secret.
        let _ = hash_secret(&secret);
        return Err(ApiError::invalid_client(
            "client authentication failed",
            is_basic,
        ));
    };
    let secret_ok = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| secret_matches(&secret, h));
    if !secret_ok {
        return Err(ApiError::invalid_client(
            "client authentication failed",
            is_basic,
        ));
    }
    if client.auth_method != method {
        return Err(ApiError::invalid_client(
            format!("this client is registered for {}", client.auth_method),
            is_basic,
        ));
    }
    Ok(client)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> ApiResult<Option<(String, String)>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_client("malformed Basic credentials", true);
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::invalid_client(
            "only Basic client authentication is accepted here",
            true,
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id);
    let secret = form_decode(secret);
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let raw = STANDARD.encode("my%20client:p%3Ass+w");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my client".into(), "p:ss w".into()))
        );
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for v in [
            "Basic !!!",
            "Basic",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            let e = basic_credentials(&h).unwrap_err();
            assert_eq!(e.code, "invalid_client", "{v}");
        }
    }
}
