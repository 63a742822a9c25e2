//! Console sessions: an operator signs in with the admin token once and the browser then holds a
//! session cookie (256 random bits, stored only as its SHA-256) instead of the token. Changes
//! made through a session also need its CSRF token, derived from the cookie (so no page of
//! another origin, which cannot read the cookie, can know it) and handed to the console's own
//! script by [`csrf_token`]. A session ends at sign-out, [`ConsoleSettings::session_ttl`] after
//! sign-in, or [`ConsoleSettings::session_idle_ttl`] after its last use.
//!
//! [`ConsoleSettings::session_ttl`]: crate::config::ConsoleSettings
//! [`ConsoleSettings::session_idle_ttl`]: crate::config::ConsoleSettings

use serde_json::json;

use super::{Admin, audit_event};
use crate::crypto::{constant_time_eq, hash_secret, random_b64u};
use crate::error::{AdminCode, Error, Result};
use crate::state::AppState;
use crate::store::ConsoleSession;

/// A session just opened: the cookie value (shown to the browser only) and its lifetime.
#[derive(Debug)]
pub struct SignedIn {
    /// The session cookie's value.
    pub cookie: String,
    /// The CSRF token of the session.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: i64,
}

/// The CSRF token of the session with this cookie.
pub fn csrf_token(cookie: &str) -> String {
    hash_secret(&format!("ciba-console-csrf:{cookie}"))
}

fn ended() -> Error {
    Error::admin(
        AdminCode::InvalidToken,
        "the console session has ended: sign in again",
    )
}

fn csrf_refused() -> Error {
    Error::admin(
        AdminCode::CsrfTokenInvalid,
        "a change through a console session needs its X-CSRF-Token header",
    )
}

/// Opens a console session for whoever presents the admin token.
pub async fn sign_in(state: &AppState, admin_token: &str) -> Result<SignedIn> {
    let now = state.now();
    if !state.is_admin_token(admin_token) {
        state
            .audit(audit_event(now, "console_sign_in_failed", None))
            .await;
        return Err(Error::admin(
            AdminCode::InvalidToken,
            "that is not the admin token",
        ));
    }
    let cookie = random_b64u(32)?;
    let settings = &state.settings.console;
    let session = ConsoleSession {
        id_hash: hash_secret(&cookie),
        created_at: now,
        expires_at: now + settings.session_ttl,
        idle_until: now + settings.session_idle_ttl,
    };
    state.store.insert_console_session(&session).await?;
    let mut event = audit_event(now, "console_sign_in", None);
    event.detail = json!({ "expires_at": session.expires_at });
    state.audit(event).await;
    Ok(SignedIn {
        csrf_token: csrf_token(&cookie),
        cookie,
        expires_at: session.expires_at,
    })
}

/// The admin proof of a console session. `change`: the request changes something, so it must
/// carry the session's CSRF token (`csrf`). `use_`: the operator did something (a page's own
/// refresh every few seconds is not use, so a console left open still idles out).
pub async fn authorize_session(
    state: &AppState,
    cookie: &str,
    csrf: Option<&str>,
    change: bool,
    use_: bool,
) -> Result<Admin> {
    let now = state.now();
    let session = open_session(state, cookie, now).await?.ok_or_else(ended)?;
    if change && !csrf.is_some_and(|token| constant_time_eq(token, &csrf_token(cookie))) {
        return Err(csrf_refused());
    }
    // One write a minute at most per session (half the idle time when that is shorter), not one
    // per request; never past the absolute expiry.
    let idle_ttl = state.settings.console.session_idle_ttl;
    let idle_until = (now + idle_ttl).min(session.expires_at);
    if (use_ || change)
        && idle_until - session.idle_until >= (idle_ttl / 2).min(60)
        && !state
            .store
            .touch_console_session(&session.id_hash, now, idle_until)
            .await?
    {
        return Err(ended());
    }
    Ok(Admin(()))
}

/// The session with this cookie, if it is open at `now`.
async fn open_session(state: &AppState, cookie: &str, now: i64) -> Result<Option<ConsoleSession>> {
    Ok(state
        .store
        .console_session(&hash_secret(cookie))
        .await?
        .filter(|s| s.expires_at > now && s.idle_until > now))
}

/// Ends the session with this cookie: an open one only with its CSRF token (`csrf`); one that
/// already ended, or none, is nothing to end.
pub async fn sign_out(state: &AppState, cookie: &str, csrf: Option<&str>) -> Result<()> {
    if open_session(state, cookie, state.now()).await?.is_none() {
        return Ok(());
    }
    if !csrf.is_some_and(|token| constant_time_eq(token, &csrf_token(cookie))) {
        return Err(csrf_refused());
    }
    if state
        .store
        .delete_console_session(&hash_secret(cookie))
        .await?
    {
        state
            .audit(audit_event(state.now(), "console_sign_out", None))
            .await;
    }
    Ok(())
}

/// Whether the session with this cookie is still open (without counting this as a use: a live
/// view left open does not keep a session from idling out).
pub async fn session_open(state: &AppState, cookie: &str) -> Result<bool> {
    Ok(open_session(state, cookie, state.now()).await?.is_some())
}
