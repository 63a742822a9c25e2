use serde::{Deserialize, Serialize};

use super::auth_methods;
use crate::config::Settings;
use crate::crypto::{hash_secret, random_b64u};
use crate::error::{Error, OAuthCode, Result};
use crate::jwks::{JwsAlg, parse_registered_jwks};
use crate::notify::endpoint::check_endpoint_url;
use crate::store::{Client, ClientAuthMethod, DeliveryMode, TlsClientName};

/// `grant_type` of the refresh grant (RFC 6749 §6).
pub const REFRESH_TOKEN_GRANT_TYPE: &str = "refresh_token";

/// A client registration, as the admin API (and the configuration file) take it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// Display name, shown on the user's phone.
    pub name: String,
    /// `poll`, `ping` or `push`.
    pub backchannel_token_delivery_mode: String,
    /// Required for ping and push.
    #[serde(default)]
    pub backchannel_client_notification_endpoint: Option<String>,
    /// `client_secret_basic` (default; `private_key_jwt` for FAPI clients),
    /// `client_secret_post` or `private_key_jwt`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Registered keys (kept for signed requests and `private_key_jwt`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Registered key URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Space-separated scope values the client may request.
    #[serde(default)]
    pub scope: Option<String>,
    /// Logo shown on the phone (https).
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// `backchannel_user_code_parameter`.
    #[serde(default)]
    pub backchannel_user_code_parameter: Option<bool>,
    /// `backchannel_authentication_request_signing_alg`: the client signs its authentication
    /// requests (`request`) with this algorithm, and sends no unsigned one.
    #[serde(default)]
    pub backchannel_authentication_request_signing_alg: Option<String>,
    /// Whether the FAPI-CIBA profile applies (default: the server's `clients.fapi`).
    #[serde(default)]
    pub fapi: Option<bool>,
    /// `tls_client_auth`: the certificate's subject DN (RFC 4514), or one of the four SANs
    /// below — exactly one of the five (RFC 8705 §2.1.2).
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    /// A DNS name the certificate's SAN holds.
    #[serde(default)]
    pub tls_client_auth_san_dns: Option<String>,
    /// A URI the certificate's SAN holds.
    #[serde(default)]
    pub tls_client_auth_san_uri: Option<String>,
    /// An IP address the certificate's SAN holds.
    #[serde(default)]
    pub tls_client_auth_san_ip: Option<String>,
    /// An email address the certificate's SAN holds.
    #[serde(default)]
    pub tls_client_auth_san_email: Option<String>,
    /// `grant_types`: the CIBA grant (always), and `refresh_token` for refresh tokens.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `id_token_signed_response_alg`: `ES256` (default), `PS256` or `RS256` (not under FAPI).
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
}

/// A registered client's metadata, as answered (the secret only at creation).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisteredClient {
    /// `client_id`.
    pub client_id: String,
    /// Only in the creation answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When it was registered.
    pub client_id_issued_at: i64,
    /// Name.
    pub name: String,
    /// Mode.
    pub backchannel_token_delivery_mode: String,
    /// Endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_client_notification_endpoint: Option<String>,
    /// Method.
    pub token_endpoint_auth_method: String,
    /// Allowed scope.
    pub scope: String,
    /// Grant types.
    pub grant_types: Vec<&'static str>,
    /// Logo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// User code support.
    pub backchannel_user_code_parameter: bool,
    /// Registered keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Registered key URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The algorithm of signed authentication requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_authentication_request_signing_alg: Option<String>,
    /// Whether the FAPI-CIBA profile applies.
    pub fapi: bool,
    /// The certificate name of a `tls_client_auth` client (one of the five).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// See `tls_client_auth_subject_dn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// See `tls_client_auth_subject_dn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// See `tls_client_auth_subject_dn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// See `tls_client_auth_subject_dn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// The algorithm of its ID tokens.
    pub id_token_signed_response_alg: String,
}

impl RegisteredClient {
    /// The public metadata of a stored client.
    pub fn from_client(c: &Client, secret: Option<String>) -> Self {
        let name = |pick: fn(&TlsClientName) -> Option<&String>| {
            c.tls_client_auth.as_ref().and_then(pick).cloned()
        };
        Self {
            client_id: c.id.clone(),
            client_secret: secret,
            client_id_issued_at: c.created_at,
            name: c.name.clone(),
            backchannel_token_delivery_mode: c.delivery_mode.as_str().to_owned(),
            backchannel_client_notification_endpoint: c.notification_endpoint.clone(),
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            scope: c.scope.join(" "),
            grant_types: if c.refresh_token_grant {
                vec![super::CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE]
            } else {
                vec![super::CIBA_GRANT_TYPE]
            },
            id_token_signed_response_alg: c
                .id_token_signed_response_alg
                .clone()
                .unwrap_or_else(|| "ES256".into()),
            logo_uri: c.logo_uri.clone(),
            backchannel_user_code_parameter: c.user_code_parameter,
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri.clone(),
            backchannel_authentication_request_signing_alg: c.request_signing_alg.clone(),
            fapi: c.fapi,
            tls_client_auth_subject_dn: name(|n| match n {
                TlsClientName::SubjectDn(v) => Some(v),
                _ => None,
            }),
            tls_client_auth_san_dns: name(|n| match n {
                TlsClientName::SanDns(v) => Some(v),
                _ => None,
            }),
            tls_client_auth_san_uri: name(|n| match n {
                TlsClientName::SanUri(v) => Some(v),
                _ => None,
            }),
            tls_client_auth_san_ip: name(|n| match n {
                TlsClientName::SanIp(v) => Some(v),
                _ => None,
            }),
            tls_client_auth_san_email: name(|n| match n {
                TlsClientName::SanEmail(v) => Some(v),
                _ => None,
            }),
        }
    }
}

fn invalid_metadata(description: impl Into<String>) -> Error {
    Error::oauth(OAuthCode::InvalidClientMetadata, description)
}

/// Validates a registration and builds the client record with a fresh id and, for the secret
/// methods, a fresh secret (≥ 256 bits); returns the record and the plaintext secret, which is
/// shown once and stored only hashed. A `private_key_jwt` client has no secret.
pub fn register_client(
    reg: ClientRegistration,
    settings: &Settings,
    now: i64,
) -> Result<(Client, Option<String>)> {
    let default_scope = &settings.ciba.default_client_scope;
    let notifications = &settings.notifications;
    let clients = &settings.clients;
    let fapi = match reg.fapi {
        Some(false) if clients.fapi => {
            return Err(invalid_metadata(
                "this server requires the FAPI-CIBA profile of every client (clients.fapi)",
            ));
        }
        Some(fapi) => fapi,
        None => clients.fapi,
    };
    let tls_client_auth = tls_client_name(&reg)?;
    let name = reg.name.trim();
    // Shown on the user's phone next to what they approve: it must read as it renders.
    if name.is_empty() || name.chars().count() > 100 || !ciba_core::protocol::is_display_safe(name)
    {
        return Err(invalid_metadata(
            "name must be 1 to 100 printable characters",
        ));
    }
    let raw_mode = reg.backchannel_token_delivery_mode.as_str();
    let Some(mode) = DeliveryMode::parse(raw_mode) else {
        return Err(invalid_metadata(format!(
            "unknown backchannel_token_delivery_mode {raw_mode:?}"
        )));
    };
    let notification_endpoint = match (
        mode,
        reg.backchannel_client_notification_endpoint.as_deref(),
    ) {
        (DeliveryMode::Poll, None) => None,
        (DeliveryMode::Poll, Some(_)) => {
            return Err(invalid_metadata(
                "poll clients have no notification endpoint",
            ));
        }
        (_, None) => {
            return Err(invalid_metadata(format!(
                "{mode} clients must register backchannel_client_notification_endpoint"
            )));
        }
        (_, Some(raw)) => match check_endpoint_url(raw, notifications) {
            Ok(url) => Some(url.to_string()),
            Err(e) => return Err(invalid_metadata(e.to_string())),
        },
    };
    let method = match reg.token_endpoint_auth_method.as_deref() {
        None if fapi => ClientAuthMethod::PrivateKeyJwt,
        None => ClientAuthMethod::ClientSecretBasic,
        Some(raw) => ClientAuthMethod::parse(raw).ok_or_else(|| {
            invalid_metadata(format!(
                "token_endpoint_auth_method {raw:?} is not supported (use one of {})",
                auth_methods().join(", ")
            ))
        })?,
    };
    let user_code_parameter = reg.backchannel_user_code_parameter == Some(true);
    if user_code_parameter && !settings.ciba.user_code {
        return Err(invalid_metadata(
            "backchannel_user_code_parameter: user codes are not enabled on this server (ciba.user_code)",
        ));
    }
    let request_signing_alg = match reg
        .backchannel_authentication_request_signing_alg
        .as_deref()
    {
        None => None,
        Some(raw) => match JwsAlg::parse(raw) {
            Some(alg) if JwsAlg::allowed(fapi).contains(&alg) => Some(alg),
            _ => {
                return Err(invalid_metadata(format!(
                    "backchannel_authentication_request_signing_alg {raw:?} is not supported{} (use {})",
                    if fapi { " under FAPI" } else { "" },
                    JwsAlg::names(fapi).join(", ")
                )));
            }
        },
    };
    let refresh_token_grant = match reg.grant_types.as_deref() {
        None => false,
        Some(grants) => {
            if let Some(other) = grants
                .iter()
                .find(|g| ![super::CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE].contains(&g.as_str()))
            {
                return Err(invalid_metadata(format!(
                    "grant type {other:?} is not supported (use {} and, for refresh tokens, {REFRESH_TOKEN_GRANT_TYPE})",
                    super::CIBA_GRANT_TYPE
                )));
            }
            if !grants.iter().any(|g| g == super::CIBA_GRANT_TYPE) {
                return Err(invalid_metadata(format!(
                    "grant_types must include {}",
                    super::CIBA_GRANT_TYPE
                )));
            }
            grants.iter().any(|g| g == REFRESH_TOKEN_GRANT_TYPE)
        }
    };
    let id_token_signed_response_alg = match reg.id_token_signed_response_alg.as_deref() {
        None => None,
        Some(raw) => match JwsAlg::parse(raw) {
            Some(alg) if JwsAlg::allowed(fapi).contains(&alg) => Some(alg.as_str().to_owned()),
            _ => {
                return Err(invalid_metadata(format!(
                    "id_token_signed_response_alg {raw:?} is not supported{} (use {})",
                    if fapi { " under FAPI" } else { "" },
                    JwsAlg::names(fapi).join(", ")
                )));
            }
        },
    };
    let scope: Vec<String> = match reg.scope.as_deref() {
        None => default_scope.to_vec(),
        Some(s) => {
            let mut values: Vec<String> = Vec::new();
            for v in s.split(' ').filter(|v| !v.is_empty()) {
                if !super::is_scope_token(v) {
                    return Err(invalid_metadata(format!("invalid scope value {v:?}")));
                }
                if !values.iter().any(|x| x == v) {
                    values.push(v.to_owned());
                }
            }
            values
        }
    };
    if !scope.iter().any(|s| s == "openid") {
        return Err(invalid_metadata("scope must contain openid"));
    }
    if let Some(logo) = &reg.logo_uri {
        match url::Url::parse(logo) {
            Ok(u) if u.scheme() == "https" => {}
            _ => return Err(invalid_metadata("logo_uri must be an https URL")),
        }
    }
    if let Some(uri) = &reg.jwks_uri
        && let Err(e) = check_endpoint_url(uri, notifications)
    {
        return Err(invalid_metadata(format!(
            "jwks_uri: {}",
            e.to_string().replace("the notification endpoint", "it")
        )));
    }
    let jwks = match reg.jwks {
        None => None,
        Some(v) => {
            if let Err(why) = parse_registered_jwks(&v) {
                return Err(invalid_metadata(format!("jwks: {why}")));
            }
            Some(v.to_string())
        }
    };
    if jwks.is_some() && reg.jwks_uri.is_some() {
        return Err(invalid_metadata(
            "register jwks or jwks_uri, not both (RFC 7591 §2)",
        ));
    }
    let has_keys = jwks.is_some() || reg.jwks_uri.is_some();
    if (method == ClientAuthMethod::PrivateKeyJwt || request_signing_alg.is_some()) && !has_keys {
        return Err(invalid_metadata(
            "private_key_jwt and signed authentication requests need the client's keys: jwks or jwks_uri",
        ));
    }
    match (method, &tls_client_auth) {
        (ClientAuthMethod::TlsClientAuth, None) => {
            return Err(invalid_metadata(
                "tls_client_auth needs the certificate's name: exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email",
            ));
        }
        (ClientAuthMethod::TlsClientAuth, Some(_)) => {
            if settings.tls.client_ca_files.is_empty() || !settings.tls.client_certificates() {
                return Err(invalid_metadata(
                    "tls_client_auth needs client certificates and their CAs: configure [tls] (a certificate and key, or a trusted proxy's header) and tls.client_ca_files",
                ));
            }
        }
        (_, Some(_)) => {
            return Err(invalid_metadata(
                "tls_client_auth_* names are only for tls_client_auth clients",
            ));
        }
        (_, None) => {}
    }
    if method == ClientAuthMethod::SelfSignedTlsClientAuth {
        if !settings.tls.client_certificates() {
            return Err(invalid_metadata(
                "self_signed_tls_client_auth needs client certificates: configure [tls] (a certificate and key, or a trusted proxy's header)",
            ));
        }
        if !has_keys {
            return Err(invalid_metadata(
                "self_signed_tls_client_auth needs the certificate's key registered: jwks or jwks_uri",
            ));
        }
    }
    if fapi {
        // FAPI-CIBA §5.2.2: confidential clients authenticated by key, signed requests, no push.
        if method != ClientAuthMethod::PrivateKeyJwt && !method.is_mtls() {
            return Err(invalid_metadata(format!(
                "a FAPI client authenticates with private_key_jwt, tls_client_auth or self_signed_tls_client_auth, not {method}"
            )));
        }
        if request_signing_alg.is_none() {
            return Err(invalid_metadata(
                "a FAPI client signs its authentication requests: register backchannel_authentication_request_signing_alg (PS256 or ES256)",
            ));
        }
        if mode == DeliveryMode::Push {
            return Err(invalid_metadata(
                "the FAPI-CIBA profile does not allow push mode (use poll or ping)",
            ));
        }
        if !settings.tls.client_certificates() {
            return Err(invalid_metadata(
                "FAPI clients get certificate-bound access tokens, so the server must see client certificates: configure [tls] (a certificate and key, or a trusted proxy's header)",
            ));
        }
    }
    let secret = match method {
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
            Some(random_b64u(32)?)
        }
        ClientAuthMethod::PrivateKeyJwt
        | ClientAuthMethod::TlsClientAuth
        | ClientAuthMethod::SelfSignedTlsClientAuth => None,
    };
    let client = Client {
        id: random_b64u(16)?,
        name: name.to_owned(),
        logo_uri: reg.logo_uri,
        delivery_mode: mode,
        notification_endpoint,
        auth_method: method,
        secret_hash: secret.as_deref().map(hash_secret),
        scope,
        user_code_parameter,
        request_signing_alg: request_signing_alg.map(|a| a.as_str().to_owned()),
        jwks,
        jwks_uri: reg.jwks_uri,
        fapi,
        tls_client_auth,
        refresh_token_grant,
        id_token_signed_response_alg,
        registration_token_hash: None,
        created_at: now,
    };
    Ok((client, secret))
}

/// The one `tls_client_auth_*` name a registration gives, checked for its form.
fn tls_client_name(reg: &ClientRegistration) -> Result<Option<TlsClientName>> {
    let given: Vec<TlsClientName> = [
        reg.tls_client_auth_subject_dn
            .clone()
            .map(TlsClientName::SubjectDn),
        reg.tls_client_auth_san_dns
            .clone()
            .map(TlsClientName::SanDns),
        reg.tls_client_auth_san_uri
            .clone()
            .map(TlsClientName::SanUri),
        reg.tls_client_auth_san_ip.clone().map(TlsClientName::SanIp),
        reg.tls_client_auth_san_email
            .clone()
            .map(TlsClientName::SanEmail),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        return Err(invalid_metadata(
            "register one tls_client_auth_* name, not several (RFC 8705 §2.1.2)",
        ));
    }
    let Some(name) = given.into_iter().next() else {
        return Ok(None);
    };
    let ok = match &name {
        TlsClientName::SubjectDn(dn) => super::mtls::parse_dn(dn).is_some_and(|a| !a.is_empty()),
        TlsClientName::SanIp(ip) => ip.parse::<std::net::IpAddr>().is_ok(),
        TlsClientName::SanDns(v) | TlsClientName::SanUri(v) | TlsClientName::SanEmail(v) => {
            !v.is_empty() && v.len() <= 512 && !v.chars().any(char::is_control)
        }
    };
    if !ok {
        return Err(invalid_metadata(format!(
            "the tls_client_auth name {name:?} is not well-formed"
        )));
    }
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(default_scope: &[String]) -> Settings {
        let mut settings = Settings::default();
        settings.ciba.default_client_scope = default_scope.to_vec();
        settings
    }

    fn reg(mode: &str) -> ClientRegistration {
        serde_json::from_value(
            serde_json::json!({"name": "Console", "backchannel_token_delivery_mode": mode}),
        )
        .unwrap()
    }

    #[test]
    fn poll_client_gets_defaults_and_a_hashed_secret() {
        let default = vec!["openid".to_owned(), "profile".to_owned()];
        let (client, secret) = register_client(reg("poll"), &settings(&default), 5).unwrap();
        assert_eq!(client.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(client.scope, default);
        let secret = secret.unwrap();
        assert!(secret.len() >= 43);
        assert_ne!(client.secret_hash.as_deref(), Some(secret.as_str()));
    }

    #[test]
    fn refuses_bad_metadata() {
        let default = vec!["openid".to_owned()];
        for mode in ["ping", "push", "carrier"] {
            assert_eq!(
                register_client(reg(mode), &settings(&default), 0)
                    .unwrap_err()
                    .code(),
                "invalid_client_metadata"
            );
        }
        let mut r = reg("poll");
        r.scope = Some("profile".into());
        assert!(register_client(r, &settings(&default), 0).is_err());
        let mut r = reg("poll");
        r.token_endpoint_auth_method = Some("none".into());
        assert!(register_client(r, &settings(&default), 0).is_err());
        let mut r = reg("poll");
        r.logo_uri = Some("http://x/logo.png".into());
        assert!(register_client(r, &settings(&default), 0).is_err());
    }
}
