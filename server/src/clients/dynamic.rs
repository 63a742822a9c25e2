//! Dynamic client registration (RFC 7591) behind an initial access token the admin issues, and
//! its management protocol (RFC 7592): the registered client reads, replaces and deletes its
//! registration with the registration access token it was given. The metadata is validated
//! exactly as the admin API validates it ([`register_client`]); RFC 7591 names are accepted
//! where they differ (`client_name`), and metadata this server does not know is ignored, as
//! RFC 7591 §2 requires — the answer says what was registered.

use serde_json::{Map, Value, json};

use super::registration::{ClientRegistration, RegisteredClient, register_client};
use crate::crypto::{constant_time_eq, hash_secret, random_b64u};
use crate::error::{Error, OAuthCode, Result};
use crate::state::AppState;
use crate::store::{Client, NewAuditEvent};

/// The registration endpoint's path; a client's registration is at `/register/{client_id}`.
pub const REGISTRATION_PATH: &str = "/register";

/// The metadata [`ClientRegistration`] reads; everything else a client sends is ignored.
const KNOWN: &[&str] = &[
    "name",
    "backchannel_token_delivery_mode",
    "backchannel_client_notification_endpoint",
    "token_endpoint_auth_method",
    "jwks",
    "jwks_uri",
    "scope",
    "logo_uri",
    "backchannel_user_code_parameter",
    "backchannel_authentication_request_signing_alg",
    "fapi",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
    "grant_types",
    "id_token_signed_response_alg",
];

fn invalid_metadata(description: impl Into<String>) -> Error {
    Error::oauth(OAuthCode::InvalidClientMetadata, description)
}

fn invalid_token(description: &str) -> Error {
    Error::oauth(OAuthCode::InvalidToken, description)
}

/// Reads RFC 7591 metadata into a registration.
fn registration_from(metadata: Map<String, Value>) -> Result<ClientRegistration> {
    let mut known = Map::new();
    for (name, value) in metadata {
        let name = if name == "client_name" {
            "name".to_owned()
        } else {
            name
        };
        if !KNOWN.contains(&name.as_str()) || value.is_null() {
            continue;
        }
        if known.insert(name, value).is_some() {
            return Err(invalid_metadata("send client_name or name, not both"));
        }
    }
    serde_json::from_value(Value::Object(known)).map_err(|e| invalid_metadata(e.to_string()))
}

/// The answer about a client: its metadata, `client_name`, where its registration is, and the
/// secrets shown once.
fn answer(
    state: &AppState,
    client: &Client,
    secret: Option<String>,
    registration_token: Option<String>,
) -> Result<Value> {
    let has_secret = secret.is_some();
    let mut body = serde_json::to_value(RegisteredClient::from_client(client, secret))
        .map_err(Error::internal)?;
    body["client_name"] = json!(client.name);
    if has_secret {
        // The secret does not expire (RFC 7591 §3.2.1: 0).
        body["client_secret_expires_at"] = json!(0);
    }
    body["registration_client_uri"] =
        json!(format!("{}{REGISTRATION_PATH}/{}", state.issuer, client.id));
    if let Some(token) = registration_token {
        body["registration_access_token"] = json!(token);
    }
    Ok(body)
}

fn audit(state: &AppState, kind: &'static str, client_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        at: state.now(),
        kind,
        user_id: None,
        client_id: Some(client_id.to_owned()),
        device_id: None,
        request_id: None,
        detail: json!({"by": "dynamic_registration"}),
    }
}

/// A caller that presented a live initial access token: only [`authorize_registration`] makes
/// one, so the metadata of `POST /register` is read only after the token was checked.
#[derive(Debug)]
pub struct InitialAccess {
    token_hash: String,
}

fn refused_initial_access() -> Error {
    invalid_token("the initial access token is unknown, expired or used up")
}

/// Checks the initial access token of `POST /register` (before the body is read, so that nobody
/// without a token learns the metadata rules). The token is used up only by a registration that
/// passes them ([`register`]).
pub async fn authorize_registration(
    state: &AppState,
    initial_access_token: Option<&str>,
) -> Result<InitialAccess> {
    let token = initial_access_token.ok_or_else(|| {
        invalid_token("an initial access token is required (Authorization: Bearer)")
    })?;
    let token_hash = hash_secret(token);
    if !state
        .store
        .initial_access_token_valid(&token_hash, state.now())
        .await?
    {
        return Err(refused_initial_access());
    }
    Ok(InitialAccess { token_hash })
}

/// `POST /register`: registers a client, using the initial access token up once.
pub async fn register(
    state: &AppState,
    access: InitialAccess,
    metadata: Map<String, Value>,
) -> Result<Value> {
    let now = state.now();
    let registration = registration_from(metadata)?;
    let (mut client, secret) = register_client(registration, &state.settings, now)?;
    let registration_token = random_b64u(32)?;
    client.registration_token_hash = Some(hash_secret(&registration_token));
    // Atomic with the insert: a token used up meanwhile (or expired) registers nothing.
    if !state
        .store
        .insert_client_with_initial_access_token(&access.token_hash, now, &client)
        .await?
    {
        return Err(refused_initial_access());
    }
    state.clients.forget(&client.id);
    state
        .audit(audit(state, "client_created", &client.id))
        .await;
    tracing::info!(client = %client.id, "client registered dynamically");
    answer(state, &client, secret, Some(registration_token))
}

/// The client whose registration `registration_token` manages.
async fn managed(
    state: &AppState,
    client_id: &str,
    registration_token: Option<&str>,
) -> Result<Client> {
    let refused = || invalid_token("the registration access token is not valid for this client");
    let token = registration_token.ok_or_else(|| {
        invalid_token("the registration access token is required (Authorization: Bearer)")
    })?;
    let presented = hash_secret(token);
    let client = state.store.client(client_id).await?.ok_or_else(refused)?;
    match &client.registration_token_hash {
        Some(stored) if constant_time_eq(stored, &presented) => Ok(client),
        _ => Err(refused()),
    }
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    state: &AppState,
    client_id: &str,
    registration_token: Option<&str>,
) -> Result<Value> {
    let client = managed(state, client_id, registration_token).await?;
    answer(state, &client, None, None)
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the metadata sent replaces the registration
/// (omitted fields take their defaults). The secret stays while the method uses one; a client
/// that moves to a secret method gets one, shown in this answer.
pub async fn update(
    state: &AppState,
    client_id: &str,
    registration_token: Option<&str>,
    mut metadata: Map<String, Value>,
) -> Result<Value> {
    let current = managed(state, client_id, registration_token).await?;
    match metadata.remove("client_id") {
        Some(Value::String(id)) if id == current.id => {}
        _ => {
            return Err(invalid_metadata(
                "client_id must be sent, and be this client's",
            ));
        }
    }
    for ignored in [
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_secret_expires_at",
    ] {
        metadata.remove(ignored);
    }
    let registration = registration_from(metadata)?;
    let (mut client, secret) = register_client(registration, &state.settings, state.now())?;
    client.id = current.id.clone();
    client.created_at = current.created_at;
    client.registration_token_hash = current.registration_token_hash.clone();
    let secret = match (&client.secret_hash, &current.secret_hash) {
        (Some(_), Some(kept)) => {
            client.secret_hash = Some(kept.clone());
            None
        }
        _ => secret,
    };
    if !state.store.update_client(&client).await? {
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    state.clients.forget(&client.id);
    state
        .audit(audit(state, "client_updated", &client.id))
        .await;
    answer(state, &client, secret, None)
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): the client and its pending requests go.
pub async fn delete(
    state: &AppState,
    client_id: &str,
    registration_token: Option<&str>,
) -> Result<()> {
    let client = managed(state, client_id, registration_token).await?;
    state.store.delete_client(&client.id).await?;
    state.clients.forget(&client.id);
    state
        .audit(audit(state, "client_deleted", &client.id))
        .await;
    Ok(())
}
