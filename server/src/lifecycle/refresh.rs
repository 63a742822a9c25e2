//! The refresh grant (RFC 6749 §6) with rotation and reuse detection (OAuth 2.0 Security BCP
//! §4.14): every use replaces the refresh token; a used token presented again revokes every
//! token of its approval — the refresh tokens and the access tokens they were issued with.

use super::{Grant, mint};
use crate::clients::AuthenticatedClient;
use crate::crypto::{constant_time_eq, hash_secret};
use crate::error::{Error, OAuthCode, Result};
use crate::state::AppState;
use crate::store::{NewAuditEvent, RotateOutcome};
use crate::tokens::IssuedTokens;

/// `grant_type=refresh_token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshGrant {
    /// `refresh_token` (required).
    pub refresh_token: Option<String>,
    /// `scope`: at most what the approval granted (default: all of it).
    pub scope: Option<String>,
}

fn invalid_grant(description: &str) -> Error {
    Error::oauth(OAuthCode::InvalidGrant, description)
}

/// Answers a refresh: new access, ID and refresh tokens, the presented refresh token used up.
pub async fn refresh(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: RefreshGrant,
) -> Result<IssuedTokens> {
    if !client.refresh_token_grant {
        return Err(Error::oauth(
            OAuthCode::UnauthorizedClient,
            "this client did not register the refresh_token grant",
        ));
    }
    client.require_fapi_certificate()?;
    let value = grant
        .refresh_token
        .ok_or_else(|| Error::invalid_request("parameter refresh_token is missing"))?;
    let unusable = || invalid_grant("the refresh token is invalid, expired or revoked");
    if value.len() > 256 {
        return Err(unusable());
    }
    let now = state.now();
    let hash = hash_secret(&value);
    // Another client's token is as unknown as a made-up one.
    let token = state
        .store
        .refresh_token(&hash)
        .await?
        .filter(|t| t.client_id == client.id)
        .ok_or_else(unusable)?;
    if let Some(bound) = &token.certificate_thumbprint
        && !client
            .certificate_thumbprint()
            .is_some_and(|presented| constant_time_eq(presented, bound))
    {
        return Err(invalid_grant(
            "the refresh token is bound to a client certificate that this request does not present",
        ));
    }
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(unusable());
    }
    let scope = match grant.scope {
        None => token.scope.clone(),
        Some(asked) => {
            let asked: Vec<String> = asked
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            if asked.is_empty() {
                return Err(Error::oauth(OAuthCode::InvalidScope, "scope is empty"));
            }
            if let Some(extra) = asked.iter().find(|w| !token.scope.contains(w)) {
                return Err(Error::oauth(
                    OAuthCode::InvalidScope,
                    format!("scope {extra} was not granted to this refresh token"),
                ));
            }
            asked
        }
    };
    let user = state.store.user(&token.user_id).await?;
    let Some(user) = user.filter(|u| u.is_active()) else {
        // A locked or removed user's grants end here.
        state
            .store
            .revoke_refresh_family(&token.family_id, now)
            .await?;
        return Err(invalid_grant(
            "this user cannot be authenticated at the moment",
        ));
    };
    let (tokens, next) = mint(
        state,
        &Grant {
            client,
            user: &user,
            scope: &scope,
            granted_scope: &token.scope,
            amr: &token.amr,
            acr: token.acr.as_deref(),
            auth_time: token.auth_time,
            family: Some((&token.family_id, token.family_expires_at)),
        },
        None,
        client.certificate_thumbprint(),
        now,
    )
    .await?;
    let next = next.ok_or_else(|| Error::internal("a refresh grant minted no refresh token"))?;
    match state.store.rotate_refresh_token(&hash, now, &next).await? {
        RotateOutcome::Rotated => {
            state.metrics.token_refreshed();
            Ok(tokens)
        }
        RotateOutcome::ReuseDetected => {
            tracing::warn!(client = %client.id, "a used refresh token was presented again: its grant is revoked");
            state.metrics.refresh_token_reused();
            state
                .audit(NewAuditEvent {
                    at: now,
                    kind: "refresh_token_reuse",
                    user_id: Some(token.user_id.clone()),
                    client_id: Some(client.id.clone()),
                    device_id: None,
                    request_id: None,
                    detail: serde_json::json!({"family": token.family_id}),
                })
                .await;
            Err(invalid_grant(
                "the refresh token was used before: every token of this grant is now revoked",
            ))
        }
        RotateOutcome::Refused => Err(unusable()),
    }
}
