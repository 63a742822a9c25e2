//! `user_code` (CIBA Core §7.1): a secret the user chose and the client asks for, so that a
//! client cannot start requests for a user who is not in front of it. Enabled server-wide by
//! `ciba.user_code` and per client by `backchannel_user_code_parameter`; the user's code is
//! stored only as an Argon2id hash. Wrong codes in a row count towards a lock
//! (`ciba.user_code_max_failures`), which cancels the user's pending requests like any lock.

use serde_json::json;

use crate::crypto::{argon2id_hash, argon2id_verify};
use crate::error::{AdminCode, Error, OAuthCode, Result};
use crate::state::AppState;
use crate::store::{Client, NewAuditEvent, User};

/// Longest user code read (a PIN or passphrase, not a document).
const MAX_USER_CODE: usize = 64;

/// Checks the request's `user_code` for a client that registered the parameter; refuses one
/// from a client that did not.
pub async fn check(
    state: &AppState,
    client: &Client,
    user: &User,
    user_code: Option<&str>,
) -> Result<()> {
    if !client.user_code_parameter {
        if user_code.is_some() {
            return Err(Error::invalid_request(
                "user_code: this client did not register backchannel_user_code_parameter",
            ));
        }
        return Ok(());
    }
    let Some(code) = user_code else {
        return Err(Error::oauth(
            OAuthCode::MissingUserCode,
            "this client sends the user's code (user_code)",
        ));
    };
    let invalid = || Error::oauth(OAuthCode::InvalidUserCode, "the user code is not right");
    if code.len() > MAX_USER_CODE {
        return Err(invalid());
    }
    // A user without a code cannot give the right one.
    let Some((hash, _)) = state.store.user_code(&user.id).await? else {
        return Err(invalid());
    };
    let presented = code.to_owned();
    // Argon2id takes tens of milliseconds and 19 MiB: off the async workers.
    let right = tokio::task::spawn_blocking(move || argon2id_verify(&presented, &hash))
        .await
        .map_err(Error::internal)?;
    if right {
        state.store.user_code_passed(&user.id).await?;
        return Ok(());
    }
    let failures = state.store.user_code_failed(&user.id).await?;
    let max = i64::from(state.settings.ciba.user_code_max_failures);
    let now = state.now();
    let mut detail = json!({"failures": failures});
    if max > 0 && failures >= max {
        let cancelled = super::lock_user(state, &user.id, now).await?;
        detail = json!({"failures": failures, "locked": true, "cancelled_requests": cancelled});
        tracing::warn!(user = %user.id, failures, "user locked after wrong user codes");
    }
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "user_code_failed",
            user_id: Some(user.id.clone()),
            client_id: Some(client.id.clone()),
            device_id: None,
            request_id: None,
            detail,
        })
        .await;
    Err(invalid())
}

/// Sets (or with `None` removes) a user's code; false when there is no such user. A code is 4
/// to 64 printable characters.
pub async fn set_user_code(state: &AppState, user_id: &str, code: Option<&str>) -> Result<bool> {
    let hash = match code {
        None => None,
        Some(code) => {
            let chars = code.chars().count();
            if !(4..=MAX_USER_CODE).contains(&chars) || code.chars().any(char::is_control) {
                return Err(Error::admin(
                    AdminCode::InvalidRequest,
                    "user_code must be 4 to 64 printable characters",
                ));
            }
            let code = code.to_owned();
            let hash = tokio::task::spawn_blocking(move || argon2id_hash(&code))
                .await
                .map_err(Error::internal)??;
            Some(hash)
        }
    };
    Ok(state.store.set_user_code(user_id, hash.as_deref()).await?)
}
