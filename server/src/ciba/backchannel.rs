//! The backchannel authentication endpoint's rules (CIBA Core §7).

use serde::Serialize;
use serde_json::json;

use super::validate::{parse_acr_values, validate_authorization_details};
use super::{is_scope_token, validate_binding_message, validate_requested_expiry};
use crate::clients::AuthenticatedClient;
use crate::crypto::{hash_secret, ordered_id, random_b64u};
use crate::error::{Error, OAuthCode, Result};
use crate::metrics::LimitReason;
use crate::state::AppState;
use crate::store::{
    CibaRequest, Client, DeliveryMode, InsertOutcome, NewAuditEvent, RequestStatus, User,
    UserStatus,
};
use crate::tokens::verify_own_id_token;

/// A backchannel authentication request's parameters (CIBA Core §7.1), as the client sent them:
/// each present at most once, an empty value counting as absent. The rules are applied by
/// [`start_request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackchannelRequest {
    /// `scope` (required).
    pub scope: Option<String>,
    /// `client_notification_token` (ping and push clients).
    pub client_notification_token: Option<String>,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// `login_hint_token`.
    pub login_hint_token: Option<String>,
    /// `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `binding_message`.
    pub binding_message: Option<String>,
    /// `user_code`.
    pub user_code: Option<String>,
    /// `requested_expiry` (seconds, as a number or a string).
    pub requested_expiry: Option<String>,
    /// RFC 9396 `authorization_details` (JSON text).
    pub authorization_details: Option<String>,
    /// A signed request object (CIBA Core §7.1.1).
    pub request: Option<String>,
    /// A request object by reference.
    pub request_uri: Option<String>,
}

/// The acknowledgement (CIBA §7.3).
#[derive(Debug, Serialize)]
pub struct BackchannelResponse {
    /// The request's handle: 160 random bits, b64u; stored only hashed.
    pub auth_req_id: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Minimum seconds between polls.
    pub interval: i64,
}

/// Validates an authenticated client's backchannel request and stores it as pending.
pub async fn start_request(
    state: &AppState,
    client: &AuthenticatedClient,
    params: BackchannelRequest,
) -> Result<BackchannelResponse> {
    let authenticated = client;
    let client = authenticated.client();
    let settings = &state.settings.ciba;
    let now = state.now();
    if settings.client_requests_per_second > 0
        && !state
            .client_rates
            .allow(&client.id, now, settings.client_requests_per_second)
    {
        state.metrics.request_limited(LimitReason::ClientRate);
        tracing::warn!(client = %client.id, "backchannel request refused: client rate limit");
        return Err(Error::oauth(
            OAuthCode::RateLimited,
            format!(
                "more than {} backchannel requests per second; retry after a second",
                settings.client_requests_per_second
            ),
        ));
    }
    let params = super::request_object::effective_request(state, authenticated, params).await?;
    // FAPI-CIBA §5.2.2: a request the user can tell apart on her phone — its binding message,
    // or the payment (authorization_details) it is about.
    if client.fapi && params.binding_message.is_none() && params.authorization_details.is_none() {
        return Err(Error::invalid_request(
            "binding_message is required of FAPI clients (unless authorization_details describe the request)",
        ));
    }
    let notification_token = match (
        client.delivery_mode,
        params.client_notification_token.as_deref(),
    ) {
        (DeliveryMode::Poll, None) => None,
        (DeliveryMode::Poll, Some(_)) => {
            return Err(Error::invalid_request(
                "client_notification_token is only for ping and push clients",
            ));
        }
        (_, None) => {
            return Err(Error::invalid_request(
                "client_notification_token is required for ping and push clients",
            ));
        }
        (_, Some(token)) if is_bearer_token(token) => Some(token.to_owned()),
        (_, Some(_)) => {
            return Err(Error::invalid_request(
                "client_notification_token must be a bearer token (RFC 6750 b64token) of at most 1024 characters",
            ));
        }
    };

    let scope = requested_scope(params.scope.as_deref(), client)?;
    let user = resolve_user(state, client, &params).await?;
    let binding_message = params.binding_message;
    if let Some(message) = &binding_message {
        validate_binding_message(message, settings.binding_message_max_chars)?;
    }
    let expires_in = match params.requested_expiry.as_deref() {
        Some(raw) => validate_requested_expiry(raw, settings.max_expiry)?,
        None => settings.default_expiry,
    };
    let requested_acr = parse_acr_values(params.acr_values.as_deref())?;
    let authorization_details = match params.authorization_details.as_deref() {
        Some(raw) => validate_authorization_details(raw)?,
        None => None,
    };
    super::user_code::check(state, client, &user, params.user_code.as_deref()).await?;

    // The user's devices: the acr a request asks for must be one of them can meet, and every
    // active one is woken.
    let devices = state.store.devices_of_user(&user.id).await?;
    let acr_values = choose_acr(state, &requested_acr, &devices)?;

    let auth_req_id = random_b64u(20)?;
    let request = CibaRequest {
        id: ordered_id("txn_", now)?,
        auth_req_id_hash: hash_secret(&auth_req_id),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        scope,
        acr_values,
        binding_message,
        authorization_details: authorization_details
            .map(|d| serde_json::Value::Array(d).to_string()),
        challenge: random_b64u(32)?,
        status: RequestStatus::Pending,
        created_at: now,
        expires_at: now + expires_in,
        interval: settings.poll_interval,
        last_polled_at: None,
        decided_at: None,
        decided_by: None,
        amr: Vec::new(),
        deny_reason: None,
        redeemed_at: None,
        // Ping and push notifications carry the auth_req_id, so it is kept for them.
        notify_auth_req_id: notification_token.as_ref().map(|_| auth_req_id.clone()),
        notification_token,
    };
    // Every active device of the user is woken; the pushes commit with the request and are
    // sent by the push worker, never here.
    let plan = crate::push::plan(&state.push, &devices, request.expires_at);
    let skipped: Vec<_> = plan
        .skipped
        .iter()
        .map(|(device, reason)| json!({"device_id": device, "reason": reason.as_str()}))
        .collect();
    let event = |kind: &'static str, detail: serde_json::Value| NewAuditEvent {
        at: now,
        kind,
        user_id: Some(user.id.clone()),
        client_id: Some(client.id.clone()),
        device_id: None,
        request_id: Some(request.id.clone()),
        detail,
    };
    let mut audit = vec![event(
        "ciba_request",
        json!({"scope": request.scope, "expires_in": expires_in,
               "pushes": plan.pushes.len(), "push_skipped": skipped}),
    )];
    if plan.pushes.is_empty() {
        // Not an error: the devices (if any) poll. But an operator should see why none rang.
        let reason = if devices.iter().any(|d| d.is_active()) {
            "no device can be pushed"
        } else {
            "the user has no active device"
        };
        audit.push(event(
            "push_not_sent",
            json!({"reason": reason, "devices": skipped}),
        ));
    }
    let max_pending = Some(settings.max_pending_requests_per_user).filter(|n| *n > 0);
    match state
        .store
        .insert_request(&request, &plan.pushes, &audit, max_pending)
        .await?
    {
        InsertOutcome::Inserted => {}
        InsertOutcome::UserAtLimit => {
            state.metrics.request_limited(LimitReason::UserPending);
            tracing::warn!(client = %client.id, user = %user.id, "backchannel request refused: the user's pending-request limit");
            let mut refused = event(
                "ciba_request_refused",
                json!({"reason": LimitReason::UserPending.as_str(),
                       "limit": settings.max_pending_requests_per_user}),
            );
            refused.request_id = None;
            state.audit(refused).await;
            return Err(Error::oauth(
                OAuthCode::TooManyPendingRequests,
                "the user has too many pending requests; retry once they have decided or expired",
            ));
        }
    }
    if !plan.pushes.is_empty() {
        state.push.wake.notify_one();
    }
    for (device_id, reason) in &plan.skipped {
        if *reason == crate::push::NoPushReason::ProviderNotConfigured
            && let Some(device) = devices.iter().find(|d| &d.id == device_id)
        {
            state.metrics.push_skipped(device.push_provider);
        }
    }
    tracing::info!(txn = %request.id, client = %client.id, "backchannel authentication request accepted");
    Ok(BackchannelResponse {
        auth_req_id,
        expires_in,
        interval: request.interval,
    })
}

/// `scope` must contain `openid`; every value must be registered for the client; order does not
/// matter and duplicates collapse.
fn requested_scope(raw: Option<&str>, client: &Client) -> Result<Vec<String>> {
    let raw = raw.ok_or_else(|| Error::invalid_request("parameter scope is missing"))?;
    let mut scope: Vec<String> = Vec::new();
    for value in raw.split(' ').filter(|v| !v.is_empty()) {
        if !is_scope_token(value) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                format!("malformed scope value {value:?}"),
            ));
        }
        if !client.scope.iter().any(|s| s == value) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                format!("scope {value} is not allowed for this client"),
            ));
        }
        if !scope.iter().any(|s| s == value) {
            scope.push(value.to_owned());
        }
    }
    if !scope.iter().any(|s| s == "openid") {
        return Err(Error::oauth(
            OAuthCode::InvalidScope,
            "scope must contain openid",
        ));
    }
    Ok(scope)
}

/// Exactly one of `login_hint`, `id_token_hint`, `login_hint_token` identifies the user. A user
/// who cannot be asked is refused with the same generic `access_denied` whatever the reason; the
/// reason goes to the audit log only (a client must not learn that a user reported fraud).
async fn resolve_user(
    state: &AppState,
    client: &Client,
    params: &BackchannelRequest,
) -> Result<User> {
    let hints = [
        params.login_hint.as_deref(),
        params.id_token_hint.as_deref(),
        params.login_hint_token.as_deref(),
    ];
    if hints.iter().flatten().count() != 1 {
        return Err(Error::invalid_request(
            "exactly one of login_hint, id_token_hint and login_hint_token is required",
        ));
    }
    let user = match hints {
        [Some(login_hint), _, _] => {
            if login_hint.len() > 256 {
                return Err(Error::oauth(OAuthCode::UnknownUserId, "no such user"));
            }
            state.store.user_by_login_hint(login_hint).await?
        }
        [_, Some(id_token), _] => {
            let keys = state.keys().await?;
            let subject =
                verify_own_id_token(&keys, &state.issuer, &client.id, id_token, state.now())
                    .ok_or_else(|| {
                        Error::invalid_request(
                            "id_token_hint is not an ID token this server issued to this client",
                        )
                    })?;
            state.store.user_by_subject(&subject).await?
        }
        [_, _, Some(hint_token)] => {
            super::hint_token::user_of_login_hint_token(state, hint_token).await?
        }
        _ => return Err(Error::invalid_request("no hint")),
    };
    let user = user.ok_or_else(|| Error::oauth(OAuthCode::UnknownUserId, "no such user"))?;
    if !user.is_active() {
        let reason = match user.status {
            UserStatus::Locked => "user_locked",
            UserStatus::Active => "user_inactive",
        };
        state
            .audit(NewAuditEvent {
                at: state.now(),
                kind: "ciba_request_refused",
                user_id: Some(user.id.clone()),
                client_id: Some(client.id.clone()),
                device_id: None,
                request_id: None,
                detail: json!({"reason": reason}),
            })
            .await;
        return Err(Error::oauth(
            OAuthCode::AccessDenied,
            "this user cannot be authenticated at the moment",
        ));
    }
    Ok(user)
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, here at
/// most 1024 characters (CIBA §7.1).
fn is_bearer_token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= 1024
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The acr level a request gets: the first of the client's `acr_values` (in its order of
/// preference) that the server defines and that an active device of the user meets; none when
/// the client asked for none. A request no device can meet is refused here, before any push.
fn choose_acr(
    state: &AppState,
    requested: &[String],
    devices: &[crate::store::Device],
) -> Result<Vec<String>> {
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let settings = &state.settings.attestation;
    let device_amrs: Vec<Vec<String>> = devices
        .iter()
        .filter(|d| d.is_active())
        .map(crate::attestation::approval_amr)
        .collect();
    for value in requested {
        if let Some(level) = settings.acr_level(value)
            && device_amrs
                .iter()
                .any(|amr| crate::attestation::meets(level, amr))
        {
            return Ok(vec![level.value.clone()]);
        }
    }
    Err(Error::invalid_request(
        if requested.iter().any(|v| settings.acr_level(v).is_some()) {
            "no active device of the user meets the requested acr_values"
        } else {
            "acr_values names no authentication context this server defines (see acr_values_supported)"
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::is_bearer_token;

    #[test]
    fn bearer_token_syntax() {
        assert!(is_bearer_token("abc-._~+/XYZ09=="));
        assert!(is_bearer_token(&"a".repeat(1024)));
        for bad in ["", "==", "a b", "a\"b", "é", "a=b", &"a".repeat(1025)] {
            assert!(!is_bearer_token(bad), "{bad:?}");
        }
    }
}
