//! Extractors for the three kinds of caller — a client application (OAuth endpoints), an
//! enrolled device (DPoP), the bank's backend (admin token) — and for the bodies they send. Each
//! reads what the request carries and hands it to the domain, which alone decides who the caller
//! is: [`AuthenticatedClient`], [`AuthenticatedDevice`], [`DeviceProof`] and [`Admin`] can only
//! be made by the domain's checks, and every domain operation takes one, so a handler that
//! forgets to authenticate its caller does not compile. Every rejection is a JSON error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;

use std::sync::Arc;

use super::Connection;
use super::body::{FormParams, parse_json};
use super::error::ApiError;
use crate::admin::{self, Admin};
use crate::ciba::{BackchannelRequest, CibaGrant, TokenRequest};
use crate::clients::{AuthenticatedClient, ClientCredentials, authenticate_client};
use crate::devices::{AuthenticatedDevice, DeviceProof, authenticate_device, verify_dpop};
use crate::error::{AdminCode, DeviceCode, Error, OAuthCode};
use crate::lifecycle::{IntrospectionRequest, RefreshGrant, RevocationRequest};
use crate::state::AppState;

/// A typed OAuth request read from form parameters. Only the shape is checked here; the rules
/// are the domain's.
pub trait FromForm: Sized {
    /// The endpoint's path (a client assertion may name its URL as `aud`).
    const ENDPOINT: &'static str;

    /// Reads the request from the form.
    fn from_form(params: &FormParams) -> Result<Self, Error>;
}

impl FromForm for BackchannelRequest {
    const ENDPOINT: &'static str = "/backchannel/authenticate";

    fn from_form(p: &FormParams) -> Result<Self, Error> {
        Ok(Self {
            scope: p.take("scope"),
            client_notification_token: p.take("client_notification_token"),
            acr_values: p.take("acr_values"),
            login_hint_token: p.take("login_hint_token"),
            id_token_hint: p.take("id_token_hint"),
            login_hint: p.take("login_hint"),
            binding_message: p.take("binding_message"),
            user_code: p.take("user_code"),
            requested_expiry: p.take("requested_expiry"),
            authorization_details: p.take("authorization_details"),
            request: p.take("request"),
            request_uri: p.take("request_uri"),
        })
    }
}

impl FromForm for TokenRequest {
    const ENDPOINT: &'static str = "/token";

    fn from_form(p: &FormParams) -> Result<Self, Error> {
        match p.require("grant_type")? {
            crate::ciba::CIBA_GRANT_TYPE => Ok(Self::Ciba(CibaGrant {
                auth_req_id: p.take("auth_req_id"),
            })),
            crate::clients::REFRESH_TOKEN_GRANT_TYPE => Ok(Self::Refresh(RefreshGrant {
                refresh_token: p.take("refresh_token"),
                scope: p.take("scope"),
            })),
            other => Err(Error::oauth(
                OAuthCode::UnsupportedGrantType,
                format!("grant_type {other} is not supported"),
            )),
        }
    }
}

impl FromForm for IntrospectionRequest {
    const ENDPOINT: &'static str = "/introspect";

    fn from_form(p: &FormParams) -> Result<Self, Error> {
        Ok(Self {
            token: p.take("token"),
            token_type_hint: p.take("token_type_hint"),
        })
    }
}

impl FromForm for RevocationRequest {
    const ENDPOINT: &'static str = "/revoke";

    fn from_form(p: &FormParams) -> Result<Self, Error> {
        Ok(Self {
            token: p.take("token"),
            token_type_hint: p.take("token_type_hint"),
        })
    }
}

/// An OAuth request from an authenticated client: the form is parsed, the client authenticated
/// by the domain, then the typed request read — in that order, so a malformed body is refused
/// before anyone is authenticated and nothing about the request is looked at before.
pub struct ClientCall<T> {
    /// Who is calling.
    pub client: AuthenticatedClient,
    /// What it asks.
    pub request: T,
}

impl<T: FromForm> FromRequest<AppState> for ClientCall<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let certificates =
            client_certificates(req.extensions().get::<Connection>(), &headers, state)?;
        let body = Bytes::from_request(req, state).await?;
        let params = FormParams::parse(&headers, &body)?;
        let credentials = ClientCredentials {
            basic: basic_credentials(&headers)?,
            client_id: params.take("client_id"),
            client_secret: params.take("client_secret"),
            client_assertion_type: params.take("client_assertion_type"),
            client_assertion: params.take("client_assertion"),
            endpoint: T::ENDPOINT,
            certificates,
        };
        let client = authenticate_client(state, credentials).await?;
        let request = T::from_form(&params)?;
        Ok(Self { client, request })
    }
}

/// The client certificate chain of a request (leaf first, DER): the one of the TLS handshake
/// when the server terminates TLS; otherwise, behind a TLS-terminating proxy, the one in
/// `tls.client_certificate_header` — believed only when the connection comes from one of
/// `tls.trusted_proxies` (from anyone else the header is ignored).
pub fn client_certificates(
    connection: Option<&Connection>,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Arc<Vec<Vec<u8>>>>, Error> {
    if let Some(chain) = connection.and_then(|c| c.certificates.clone()) {
        return Ok(Some(chain));
    }
    let tls = &state.settings.tls;
    let (Some(name), Some(connection)) = (&tls.client_certificate_header, connection) else {
        return Ok(None);
    };
    let Some(value) = headers.get(name.as_str()) else {
        return Ok(None);
    };
    let peer = connection.peer.ip();
    let trusted = state
        .trusted_proxies
        .iter()
        .any(|range| range.contains(peer));
    if !trusted {
        tracing::warn!(%peer, header = %name, "a client certificate header from an address that is not a trusted proxy is ignored");
        return Ok(None);
    }
    let bad =
        || Error::invalid_client("the client certificate forwarded by the proxy cannot be read");
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| bad())?;
    let chain: Vec<Vec<u8>> = if decoded.contains("-----BEGIN CERTIFICATE-----") {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(decoded.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?
    } else {
        let compact: String = decoded.split_whitespace().collect();
        vec![STANDARD.decode(compact).map_err(|_| bad())?]
    };
    if chain.is_empty() {
        return Err(bad());
    }
    Ok(Some(Arc::new(chain)))
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1): the
/// form-decoded client id and secret, `None` without an `Authorization` header.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || Error::invalid_client("malformed Basic credentials");
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::invalid_client(
            "only Basic client authentication is accepted here",
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

/// The request's one `DPoP` header, as text.
fn dpop_header(headers: &HeaderMap) -> Result<&str, Error> {
    let invalid = |why: &str| Error::device(DeviceCode::InvalidDpopProof, why);
    let mut values = headers.get_all("dpop").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(invalid("exactly one DPoP header is required"));
    };
    value
        .to_str()
        .map_err(|_| invalid("the DPoP header is not text"))
}

/// A verified DPoP proof from a key that may not be enrolled yet (enrollment) or any more (a
/// revoked device asking about itself).
impl FromRequestParts<AppState> for DeviceProof {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let proof = dpop_header(&parts.headers)?;
        Ok(verify_dpop(
            state,
            parts.method.as_str(),
            parts.uri.path(),
            proof,
        )?)
    }
}

/// An enrolled, active device, by its DPoP proof.
impl FromRequestParts<AppState> for AuthenticatedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let proof = dpop_header(&parts.headers)?;
        Ok(authenticate_device(state, parts.method.as_str(), parts.uri.path(), proof).await?)
    }
}

/// The bank's backend by the admin bearer token, or an operator by a console session.
impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(admin_caller(state, &parts.method, &parts.headers).await?)
    }
}

/// The header the console's script puts on its own periodic refreshes: they do not keep a
/// session from idling out.
pub const BACKGROUND_HEADER: &str = "x-console-background";

/// The header carrying a console session's CSRF token on changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: with the `__Host-` prefix (Secure, no Domain, Path=/) when the
/// issuer is https; a plain name for the http loopback development issuer, where browsers
/// would drop a Secure cookie.
pub fn console_cookie_name(state: &AppState) -> &'static str {
    if console_secure(state) {
        "__Host-ciba_console"
    } else {
        "ciba_console"
    }
}

pub fn console_secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// The console session cookie of a request, if it has one (never while the console is
/// disabled: its sessions then open nothing).
pub fn session_cookie<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    if !state.settings.console.enabled {
        return None;
    }
    let name = console_cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The admin proof of an admin API request: the bearer token when it carries one, else its
/// console session (whose changes — every method but GET and HEAD — need the CSRF header).
pub async fn admin_caller(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> crate::error::Result<Admin> {
    if let Some(token) = bearer_token(headers) {
        return admin::authorize(state, Some(token));
    }
    match session_cookie(state, headers) {
        Some(cookie) => {
            let change = !matches!(*method, Method::GET | Method::HEAD);
            let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let background = headers.contains_key(BACKGROUND_HEADER);
            admin::authorize_session(state, cookie, csrf, change, !background).await
        }
        None => admin::authorize(state, None),
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// A JSON body of the device API.
pub struct DeviceJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for DeviceJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await?;
        let invalid = |why: String| Error::device(DeviceCode::InvalidRequest, why);
        Ok(Self(parse_json(&headers, &body, invalid)?))
    }
}

/// A JSON body of the admin API.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await?;
        let invalid = |why: String| Error::admin(AdminCode::InvalidRequest, why);
        Ok(Self(parse_json(&headers, &body, invalid)?))
    }
}

/// The query string of an admin request.
pub struct AdminQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for AdminQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Self(q)),
            Err(e) => Err(Error::admin(AdminCode::InvalidRequest, e.body_text()).into()),
        }
    }
}

/// The one path parameter of a route, as text.
pub struct PathParam(pub String);

impl FromRequestParts<AppState> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => Err(Error::invalid_request(e.body_text()).into()),
        }
    }
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
            assert_eq!(e.code(), "invalid_client", "{v}");
        }
    }

    #[test]
    fn exactly_one_dpop_header() {
        let mut h = HeaderMap::new();
        assert_eq!(dpop_header(&h).unwrap_err().code(), "invalid_dpop_proof");
        h.append("dpop", HeaderValue::from_static("a"));
        assert_eq!(dpop_header(&h).unwrap(), "a");
        h.append("dpop", HeaderValue::from_static("b"));
        assert!(dpop_header(&h).is_err());
    }
}
