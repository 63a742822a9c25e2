//! Client authentication at the OAuth endpoints: who is calling, proven by the method the client
//! registered. The HTTP layer reads the credentials off the request ([`ClientCredentials`]);
//! only [`authenticate_client`] turns them into an [`AuthenticatedClient`], which every OAuth
//! operation of the domain requires.

use std::sync::Arc;

use super::mtls::{certificate_has_name, certificate_thumbprint};
use super::signed_jwt::{
    CLOCK_SKEW, JwtRefusal, client_keys, first_use_of_jti, parse_client_jwt, verify_client_jws,
};
use crate::crypto::{hash_secret, secret_matches};
use crate::error::{Error, Result};
use crate::jwks::JwsAlg;
use crate::state::AppState;
use crate::store::{Client, ClientAuthMethod};

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials an OAuth request presents, as read off the request.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// `Authorization: Basic` id and secret, already form-decoded (RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// The form's `client_id`.
    pub client_id: Option<String>,
    /// The form's `client_secret`.
    pub client_secret: Option<String>,
    /// The form's `client_assertion_type` (RFC 7521 §4.2).
    pub client_assertion_type: Option<String>,
    /// The form's `client_assertion`.
    pub client_assertion: Option<String>,
    /// The path of the endpoint called (`/token`), which a client assertion may name as `aud`.
    pub endpoint: &'static str,
    /// The client certificate chain (leaf first, DER): from the TLS handshake, or forwarded by
    /// a trusted proxy.
    pub certificates: Option<Arc<Vec<Vec<u8>>>>,
}

/// A client whose credentials were verified for this request. Only [`authenticate_client`]
/// makes one, so an OAuth operation cannot run for a caller nobody authenticated.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    client: Client,
    certificate_thumbprint: Option<String>,
}

impl AuthenticatedClient {
    /// The client's registration.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `x5t#S256` of the client certificate this request came with (whatever the method): the
    /// access tokens it gets are bound to it (RFC 8705 §3).
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.certificate_thumbprint.as_deref()
    }

    /// Refuses a token request of a FAPI client without a client certificate: its tokens are
    /// sender-constrained, bound to that certificate (the CIBA and the refresh grant alike).
    pub fn require_fapi_certificate(&self) -> crate::error::Result<()> {
        if self.client.fapi && self.certificate_thumbprint.is_none() {
            return Err(crate::error::Error::invalid_request(
                "a FAPI client's tokens are bound to its TLS client certificate: present one (mTLS)",
            ));
        }
        Ok(())
    }
}

impl std::ops::Deref for AuthenticatedClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Authenticates the client of an OAuth request by the method it registered:
/// `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `tls_client_auth` or
/// `self_signed_tls_client_auth`. Any failure is
/// `401 invalid_client`, except a request that uses two methods at once, which is
/// `invalid_request` (RFC 6749 §2.3).
pub async fn authenticate_client(
    state: &AppState,
    credentials: ClientCredentials,
) -> Result<AuthenticatedClient> {
    let ClientCredentials {
        basic,
        client_id: form_id,
        client_secret: post_secret,
        client_assertion_type: assertion_type,
        client_assertion: assertion,
        endpoint,
        certificates,
    } = credentials;
    let thumbprint = certificates
        .as_deref()
        .and_then(|chain| chain.first())
        .map(|leaf| certificate_thumbprint(leaf));
    let client = authenticate(
        state,
        basic,
        form_id,
        post_secret,
        assertion_type,
        assertion,
        endpoint,
        certificates,
    )
    .await?;
    Ok(AuthenticatedClient {
        client,
        certificate_thumbprint: thumbprint,
    })
}

#[allow(clippy::too_many_arguments)]
async fn authenticate(
    state: &AppState,
    basic: Option<(String, String)>,
    form_id: Option<String>,
    post_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    endpoint: &'static str,
    certificates: Option<Arc<Vec<Vec<u8>>>>,
) -> Result<Client> {
    let assertion = match (client_assertion_type, client_assertion) {
        (None, None) => None,
        (Some(kind), Some(assertion)) if kind == JWT_BEARER_ASSERTION => Some(assertion),
        (Some(kind), Some(_)) => {
            return Err(Error::invalid_client(format!(
                "client_assertion_type {kind:?} is not supported (use {JWT_BEARER_ASSERTION})"
            )));
        }
        (None, Some(_)) => {
            return Err(Error::invalid_client("client_assertion_type is missing"));
        }
        (Some(_), None) => return Err(Error::invalid_client("client_assertion is missing")),
    };
    if [basic.is_some(), post_secret.is_some(), assertion.is_some()]
        .iter()
        .filter(|used| **used)
        .count()
        > 1
    {
        return Err(Error::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    if let Some(assertion) = assertion {
        return authenticate_by_assertion(state, form_id, &assertion, endpoint).await;
    }
    if let (None, None, Some(id)) = (&basic, &post_secret, &form_id) {
        // No secret and no assertion: a client certificate, if the client registered one.
        let client = state.clients.get(state.store.as_ref(), id).await?;
        return match client {
            Some(client) if client.auth_method.is_mtls() => {
                authenticate_by_certificate(state, client, certificates.as_deref()).await
            }
            Some(client) => Err(Error::invalid_client(format!(
                "client authentication is required (this client is registered for {})",
                client.auth_method
            ))),
            None => Err(Error::invalid_client("client authentication failed")),
        };
    }
    let (client_id, secret, method) = match (basic, post_secret) {
        (Some((id, secret)), _) => {
            if form_id.as_deref().is_some_and(|form_id| form_id != id) {
                return Err(Error::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (id, secret, ClientAuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id = form_id.ok_or_else(|| Error::invalid_client("client_id is missing"))?;
            (id, secret, ClientAuthMethod::ClientSecretPost)
        }
        (None, None) => {
            return Err(Error::invalid_client("client authentication is required"));
        }
    };
    let client = state.clients.get(state.store.as_ref(), &client_id).await?;
    let Some(client) = client else {
        // Hash anyway so an unknown client costs the same as a wrong secret.
        let _ = hash_secret(&secret);
        return Err(Error::invalid_client("client authentication failed"));
    };
    let secret_ok = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| secret_matches(&secret, h));
    if !secret_ok {
        return Err(Error::invalid_client("client authentication failed"));
    }
    if client.auth_method != method {
        return Err(Error::invalid_client(format!(
            "this client is registered for {}",
            client.auth_method
        )));
    }
    Ok(client)
}

/// `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2): the certificate the client
/// presented — issued by a configured CA and carrying the registered name, or with a key the
/// client registered.
async fn authenticate_by_certificate(
    state: &AppState,
    client: Client,
    certificates: Option<&Vec<Vec<u8>>>,
) -> Result<Client> {
    let Some(leaf) = certificates.and_then(|chain| chain.first()) else {
        return Err(Error::invalid_client(format!(
            "this client authenticates with a client certificate ({}); none was presented",
            client.auth_method
        )));
    };
    let chain = certificates.map(Vec::as_slice).unwrap_or_default();
    let thumbprint = certificate_thumbprint(leaf);
    let now = state.now();
    if state
        .certificate_checks
        .passed(&client.id, &thumbprint, now)
    {
        return Ok(client);
    }
    match client.auth_method {
        ClientAuthMethod::TlsClientAuth => {
            let Some(cas) = &state.client_cas else {
                return Err(Error::invalid_client(
                    "tls_client_auth needs the client CAs (tls.client_ca_files), which this server has none of",
                ));
            };
            if let Err(why) = cas.verify(chain, now) {
                return Err(Error::invalid_client(format!(
                    "the client certificate is not from a trusted CA: {why}"
                )));
            }
            let has_name = match &client.tls_client_auth {
                Some(name) => certificate_has_name(leaf, name).map_err(Error::invalid_client)?,
                None => false,
            };
            if !has_name {
                return Err(Error::invalid_client(
                    "the client certificate does not carry the client's registered name",
                ));
            }
        }
        _ => {
            let keys = client_keys(state, &client, None)
                .await
                .map_err(|why| Error::invalid_client(why.0))?;
            if !crate::jwks::certificate_key_is_one_of(&keys, leaf) {
                return Err(Error::invalid_client(
                    "the client certificate's key is not one of the client's registered keys",
                ));
            }
        }
    }
    state
        .certificate_checks
        .record(&client.id, &thumbprint, now);
    Ok(client)
}

/// `private_key_jwt` (RFC 7523 §3): a JWT signed with one of the client's registered keys, with
/// `iss` = `sub` = the client id, an `aud` naming this server (its issuer, its token endpoint or
/// the endpoint called), a short `exp`, and a `jti` used once on every instance.
async fn authenticate_by_assertion(
    state: &AppState,
    form_id: Option<String>,
    assertion: &str,
    endpoint: &str,
) -> Result<Client> {
    let failed = |why: JwtRefusal| Error::invalid_client(format!("client assertion: {}", why.0));
    let jws = parse_client_jwt(assertion).map_err(failed)?;
    // Who it claims to be, read before the signature is checked only to find the keys.
    let claimed = jws
        .claims::<serde_json::Value>()
        .ok()
        .and_then(|c| c.get("iss").and_then(|v| v.as_str()).map(str::to_owned));
    let Some(client_id) = claimed.or(form_id.clone()) else {
        return Err(failed("iss is required".into()));
    };
    if form_id.as_deref().is_some_and(|id| id != client_id) {
        return Err(Error::invalid_client(
            "client_id differs from the client assertion's iss",
        ));
    }
    let Some(client) = state.clients.get(state.store.as_ref(), &client_id).await? else {
        return Err(Error::invalid_client("client authentication failed"));
    };
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(Error::invalid_client(format!(
            "this client is registered for {}",
            client.auth_method
        )));
    }
    let jwt = verify_client_jws(state, &client, &jws, JwsAlg::allowed(client.fapi))
        .await?
        .map_err(failed)?;
    let now = state.now();
    let check = || -> std::result::Result<(i64, &str), JwtRefusal> {
        if jwt.required_string("iss")? != client.id {
            return Err("iss must be the client id".into());
        }
        if jwt.required_string("sub")? != client.id {
            return Err("sub must be the client id".into());
        }
        let issuer = state.issuer.as_str();
        let token_endpoint = format!("{issuer}/token");
        let called = format!("{issuer}{endpoint}");
        jwt.audience_is_one_of(&[issuer, &token_endpoint, &called])?;
        let exp = jwt.required_date("exp")?;
        if exp + CLOCK_SKEW <= now {
            return Err("expired (exp)".into());
        }
        let max = state.settings.clients.assertion_max_lifetime;
        if exp > now + max {
            return Err(
                format!("exp is more than {max} s ahead; assertions must be short-lived").into(),
            );
        }
        if jwt.date("iat")?.is_some_and(|iat| iat > now + CLOCK_SKEW) {
            return Err("iat is in the future".into());
        }
        if jwt.date("nbf")?.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
            return Err("not valid yet (nbf)".into());
        }
        Ok((exp, jwt.jti()?))
    };
    let (exp, jti) = check().map_err(failed)?;
    if !first_use_of_jti(state, "assertion", &client.id, jti, exp + CLOCK_SKEW + 1).await? {
        return Err(failed("this jti was used before".into()));
    }
    Ok(client)
}
