//! The token lifecycle after a grant: minting the tokens of an approval (access, ID and refresh
//! tokens), the refresh grant with rotation and reuse detection (`refresh`), token
//! introspection (RFC 7662, `introspection`) and revocation (RFC 7009, `revocation`).

mod introspection;
mod refresh;
mod revocation;

pub use introspection::{IntrospectionRequest, introspect};
pub use refresh::{RefreshGrant, refresh};
pub use revocation::{RevocationRequest, revoke};

use crate::crypto::{hash_secret, random_b64u};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{Client, RefreshToken, User};
use crate::tokens::IssuedTokens;

/// What tokens are minted for: one approval of one user for one client.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// The client.
    pub client: &'a Client,
    /// The user.
    pub user: &'a User,
    /// The scope of the tokens (a refresh may narrow it).
    pub scope: &'a [String],
    /// The scope the approval granted (a refresh token keeps it whole, RFC 6749 §6).
    pub granted_scope: &'a [String],
    /// Verified authentication methods of the approval.
    pub amr: &'a [String],
    /// The authentication context class the approval met.
    pub acr: Option<&'a str>,
    /// When the user decided.
    pub auth_time: i64,
    /// The refresh-token family this continues (its id and absolute expiry), for a refresh.
    pub family: Option<(&'a str, i64)>,
}

/// Signs the tokens of `grant` and, for a client that registered the `refresh_token` grant, a
/// refresh token: its record is returned for the caller to store in the same transaction as
/// the state change that releases the tokens. `auth_req_id` is set for push-mode delivery;
/// `certificate_thumbprint` binds the access token (and the refresh token) to the client's
/// certificate.
pub async fn mint(
    state: &AppState,
    grant: &Grant<'_>,
    auth_req_id: Option<&str>,
    certificate_thumbprint: Option<&str>,
    now: i64,
) -> Result<(IssuedTokens, Option<RefreshToken>)> {
    let settings = &state.settings.tokens;
    let refresh_value = if grant.client.refresh_token_grant {
        Some(random_b64u(32).map_err(Error::internal)?)
    } else {
        None
    };
    let audience = settings
        .access_token_audience
        .as_deref()
        .unwrap_or(&state.issuer);
    let tokens = crate::tokens::issue_tokens(
        &*state.keys().await?,
        &crate::tokens::TokenRequest {
            issuer: &state.issuer,
            access_token_audience: audience,
            client_id: &grant.client.id,
            id_token_alg: grant
                .client
                .id_token_signed_response_alg
                .as_deref()
                .and_then(crate::jwks::JwsAlg::parse)
                .unwrap_or(crate::jwks::JwsAlg::Es256),
            access_token_alg: crate::jwks::JwsAlg::parse(&settings.access_token_signing_alg)
                .unwrap_or(crate::jwks::JwsAlg::Es256),
            subject: &grant.user.subject,
            scope: grant.scope,
            amr: grant.amr,
            acr: grant.acr,
            auth_time: grant.auth_time,
            auth_req_id,
            certificate_thumbprint,
            refresh_token: refresh_value.as_deref(),
            now,
            access_token_ttl: settings.access_token_ttl,
            id_token_ttl: settings.id_token_ttl,
        },
    )
    .map_err(Error::internal)?;
    let Some(value) = refresh_value else {
        return Ok((tokens, None));
    };
    let (family_id, family_expires_at) = match grant.family {
        Some((id, expires_at)) => (id.to_owned(), expires_at),
        None => (
            random_b64u(16).map_err(Error::internal)?,
            now + settings.refresh_token_absolute_ttl,
        ),
    };
    let record = RefreshToken {
        token_hash: hash_secret(&value),
        family_id,
        client_id: grant.client.id.clone(),
        user_id: grant.user.id.clone(),
        scope: grant.granted_scope.to_vec(),
        amr: grant.amr.to_vec(),
        acr: grant.acr.map(str::to_owned),
        auth_time: grant.auth_time,
        certificate_thumbprint: certificate_thumbprint.map(str::to_owned),
        created_at: now,
        expires_at: (now + settings.refresh_token_ttl).min(family_expires_at),
        family_expires_at,
        used_at: None,
        revoked_at: None,
        access_jti: tokens.access_jti.clone(),
        access_expires_at: tokens.access_expires_at,
    };
    Ok((tokens, Some(record)))
}

/// A token a client presents to introspection or revocation, found.
enum Presented {
    /// An unexpired access token this server signed (its claims).
    Access(serde_json::Map<String, serde_json::Value>),
    /// A refresh token this server stored (in any state).
    Refresh(Box<RefreshToken>),
}

/// Longer than any token this server issues: not looked up.
const MAX_PRESENTED_TOKEN: usize = 8192;

/// What `token` is, if this server issued it; `hint` (`access_token` or `refresh_token`) says
/// where to look first (RFC 7009 §2.1, RFC 7662 §2.1), the other kind is looked up too.
async fn find(
    state: &AppState,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<Option<Presented>> {
    if token.len() > MAX_PRESENTED_TOKEN {
        return Ok(None);
    }
    let access = |keys: &crate::tokens::SigningKeys| {
        crate::tokens::verify_own_access_token(keys, &state.issuer, token, now)
            .map(Presented::Access)
    };
    let keys = state.keys().await?;
    let keys = keys.as_ref();
    if hint != Some("refresh_token")
        && let Some(found) = access(keys)
    {
        return Ok(Some(found));
    }
    if let Some(found) = state.store.refresh_token(&hash_secret(token)).await? {
        return Ok(Some(Presented::Refresh(Box::new(found))));
    }
    Ok(if hint == Some("refresh_token") {
        access(keys)
    } else {
        None
    })
}

/// The client an access token was issued to (`client_id`).
fn access_token_client(claims: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    claims.get("client_id").and_then(serde_json::Value::as_str)
}
