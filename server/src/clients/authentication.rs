//! Client authentication at the OAuth endpoints: who is calling, proven by the method the client
//! registered. The HTTP layer reads the credentials off the request ([`ClientCredentials`]);
//! only [`authenticate_client`] turns them into an [`AuthenticatedClient`], which every OAuth
//! operation of the domain requires.

use crate::crypto::{hash_secret, secret_matches};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Client, ClientAuthMethod};

/// The credentials an OAuth request presents, as read off the request.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// `Authorization: Basic` id and secret, already form-decoded (RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// The form's `client_id`.
    pub client_id: Option<String>,
    /// The form's `client_secret`.
    pub client_secret: Option<String>,
}

/// A client whose credentials were verified for this request. Only [`authenticate_client`]
/// makes one, so an OAuth operation cannot run for a caller nobody authenticated.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    client: Client,
}

impl AuthenticatedClient {
    /// The client's registration.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl std::ops::Deref for AuthenticatedClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Authenticates the client of an OAuth request by `client_secret_basic` or
/// `client_secret_post`, whichever it registered. Any failure is `401 invalid_client`, except a
/// request that uses two methods at once, which is `invalid_request` (RFC 6749 §2.3).
pub async fn authenticate_client(
    state: &AppState,
    credentials: ClientCredentials,
) -> Result<AuthenticatedClient> {
    let ClientCredentials {
        basic,
        client_id: form_id,
        client_secret: post_secret,
    } = credentials;
    let (client_id, secret, method) = match (basic, post_secret) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
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
    Ok(AuthenticatedClient { client })
}
