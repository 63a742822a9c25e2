//! The admin API's listings and request operations (what the operators' console needs): users
//! searched, clients, devices across users and requests filtered — each a page with an opaque
//! `next_cursor` (keyset pagination) — a request's detail with its timeline, cancelling a
//! request, and rotating a client's secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Admin, DeviceSummary, audit_event, invalid, not_found};
use crate::ciba::RequestState;
use crate::clients::RegisteredClient;
use crate::crypto::{hash_secret, random_b64u};
use crate::error::{AdminCode, Error, Result};
use crate::state::AppState;
use crate::store::{
    After, AuditEvent, CibaRequest, ClientAuthMethod, ClientNotificationDelivery, DeviceFilter,
    RequestFilter, User, WakeupDelivery,
};

/// Rows per page by default, and at most.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// A page of a listing.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn limit_of(limit: Option<i64>) -> Result<i64> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(invalid("limit must be 1 to 200")),
    }
}

fn cursor_of(cursor: Option<&str>) -> Result<Option<After>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad = || invalid("cursor is not one this API gave");
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some(After {
        at: at.parse().map_err(|_| bad())?,
        id: id.to_owned(),
    }))
}

/// Fetches one row more than `limit` to know whether a next page exists.
fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> (i64, String),
    show: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(&key))
        .flatten()
        .map(|(at, id)| URL_SAFE_NO_PAD.encode(format!("{at}:{id}")));
    Page {
        items: rows.into_iter().map(show).collect(),
        next_cursor,
    }
}

/// Query of `GET /admin/v1/users`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// A part of a username, subject, email, phone or display name (case-insensitive).
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// `active` or `locked`.
    #[param(pattern = "^(active|locked)$")]
    pub status: Option<String>,
    /// Rows per page (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// `GET /admin/v1/users?q=&status=&limit=&cursor=`: oldest first.
pub async fn users(state: &AppState, _: &Admin, q: UserListQuery) -> Result<Page<User>> {
    let limit = limit_of(q.limit)?;
    let after = cursor_of(q.cursor.as_deref())?;
    if let Some(status) = q.status.as_deref()
        && !["active", "locked"].contains(&status)
    {
        return Err(invalid("status must be active or locked"));
    }
    let search = q.q.as_deref().filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 256) {
        return Err(invalid("q is at most 256 characters"));
    }
    let rows = state
        .store
        .list_users(search, q.status.as_deref(), after.as_ref(), limit + 1)
        .await?;
    Ok(page(rows, limit, |u| (u.created_at, u.id.clone()), |u| u))
}

/// Query of `GET /admin/v1/clients`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// `GET /admin/v1/clients?limit=&cursor=`: oldest first.
pub async fn clients(state: &AppState, _: &Admin, q: PageQuery) -> Result<Page<RegisteredClient>> {
    let limit = limit_of(q.limit)?;
    let after = cursor_of(q.cursor.as_deref())?;
    let rows = state.store.list_clients(after.as_ref(), limit + 1).await?;
    Ok(page(
        rows,
        limit,
        |c| (c.created_at, c.id.clone()),
        |c| RegisteredClient::from_client(&c, None),
    ))
}

/// Query of `GET /admin/v1/devices`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceListQuery {
    /// Only this user's.
    pub user_id: Option<String>,
    /// `active` or `revoked`.
    #[param(pattern = "^(active|revoked)$")]
    pub status: Option<String>,
    /// `android`, `ios` or `other`.
    #[param(pattern = "^(android|ios|other)$")]
    pub platform: Option<String>,
    /// Whether the device has a push token its provider has not refused.
    pub push_token_valid: Option<bool>,
    /// Rows per page (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// `GET /admin/v1/devices?user_id=&status=&platform=&push_token_valid=&limit=&cursor=`: by
/// enrollment time.
pub async fn devices(
    state: &AppState,
    _: &Admin,
    q: DeviceListQuery,
) -> Result<Page<DeviceSummary>> {
    let limit = limit_of(q.limit)?;
    let after = cursor_of(q.cursor.as_deref())?;
    if let Some(status) = q.status.as_deref()
        && !["active", "revoked"].contains(&status)
    {
        return Err(invalid("status must be active or revoked"));
    }
    if let Some(platform) = q.platform.as_deref()
        && !["android", "ios", "other"].contains(&platform)
    {
        return Err(invalid("platform must be android, ios or other"));
    }
    let filter = DeviceFilter {
        user_id: q.user_id,
        status: q.status,
        platform: q.platform,
        push_token_valid: q.push_token_valid,
    };
    let rows = state
        .store
        .list_devices(&filter, after.as_ref(), limit + 1)
        .await?;
    Ok(page(
        rows,
        limit,
        |d| (d.enrolled_at, d.id.clone()),
        DeviceSummary::from,
    ))
}

/// A request as the admin API shows it (never its `auth_req_id` or notification token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    /// The transaction id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// `pending`, `expired`, `approved`, `denied`, `redeemed` or `cancelled`, at now.
    pub state: &'static str,
    /// Requested scope.
    pub scope: Vec<String>,
    /// Shown to the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
    /// Requested authentication context classes.
    pub acr_values: Vec<String>,
    /// Created.
    pub created_at: i64,
    /// Expires.
    pub expires_at: i64,
    /// When the user decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    /// The deciding device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The reason of a denial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<String>,
    /// When the tokens were issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<i64>,
}

fn state_name(state: RequestState) -> &'static str {
    match state {
        RequestState::Pending => "pending",
        RequestState::Expired => "expired",
        RequestState::Approved { .. } => "approved",
        RequestState::Denied { .. } => "denied",
        RequestState::Redeemed => "redeemed",
        RequestState::Cancelled => "cancelled",
    }
}

fn summary(r: CibaRequest, now: i64) -> RequestSummary {
    RequestSummary {
        state: state_name(RequestState::at(&r, now)),
        id: r.id,
        client_id: r.client_id,
        user_id: r.user_id,
        scope: r.scope,
        binding_message: r.binding_message,
        acr_values: r.acr_values,
        created_at: r.created_at,
        expires_at: r.expires_at,
        decided_at: r.decided_at,
        decided_by: r.decided_by,
        deny_reason: r.deny_reason,
        redeemed_at: r.redeemed_at,
    }
}

/// Query of `GET /admin/v1/requests`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// `pending`, `expired`, `approved`, `denied`, `redeemed` or `cancelled`.
    #[param(pattern = "^(pending|expired|approved|denied|redeemed|cancelled)$")]
    pub state: Option<String>,
    /// Rows per page (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// `GET /admin/v1/requests?client_id=&user_id=&state=&limit=&cursor=`: newest first.
pub async fn requests(
    state: &AppState,
    _: &Admin,
    q: RequestListQuery,
) -> Result<Page<RequestSummary>> {
    let limit = limit_of(q.limit)?;
    let after = cursor_of(q.cursor.as_deref())?;
    let (status, expired) = match q.state.as_deref() {
        None => (None, None),
        Some("pending") => (Some("pending"), Some(false)),
        Some("expired") => (Some("pending"), Some(true)),
        Some(s @ ("approved" | "denied" | "redeemed" | "cancelled")) => (Some(s), None),
        Some(_) => {
            return Err(invalid(
                "state must be pending, expired, approved, denied, redeemed or cancelled",
            ));
        }
    };
    let filter = RequestFilter {
        client_id: q.client_id,
        user_id: q.user_id,
        status: status.map(str::to_owned),
        expired,
    };
    let now = state.now();
    let rows = state
        .store
        .list_requests(&filter, now, after.as_ref(), limit + 1)
        .await?;
    Ok(page(
        rows,
        limit,
        |r| (r.created_at, r.id.clone()),
        |r| summary(r, now),
    ))
}

/// One step of a request's life.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// When.
    pub at: i64,
    /// `created`, `push_sent`, `push_failed`, `decided`, `notified`, `notification_failed`,
    /// `redeemed`, `expired`, or an audit event's kind.
    pub event: String,
    /// What else is known.
    pub detail: Value,
}

/// `GET /admin/v1/requests/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestDetail {
    /// The request.
    pub request: RequestSummary,
    /// created → pushed → decided → delivered or redeemed, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// The wake-up pushes to the user's devices.
    pub pushes: Vec<WakeupDelivery>,
    /// The notifications of a ping or push client.
    pub notifications: Vec<ClientNotificationDelivery>,
    /// The audit events about the request.
    pub audit: Vec<AuditEvent>,
}

fn entry(at: i64, event: &str, detail: Value) -> TimelineEntry {
    TimelineEntry {
        at,
        event: event.to_owned(),
        detail,
    }
}

/// `GET /admin/v1/requests/{id}`: the request, its pushes, notifications, audit events and
/// the timeline made of them.
pub async fn request(state: &AppState, _: &Admin, id: &str) -> Result<RequestDetail> {
    let request = state
        .store
        .request(id)
        .await?
        .ok_or_else(|| not_found("request"))?;
    let pushes = state.store.wakeups_of_request(id).await?;
    let notifications = state.store.notifications_of_request(id).await?;
    let audit = state.store.audit_events_of_request(id).await?;
    let now = state.now();
    let mut timeline = vec![entry(
        request.created_at,
        "created",
        json!({"client_id": request.client_id, "user_id": request.user_id}),
    )];
    for push in &pushes {
        let detail = json!({"device_id": push.device_id, "provider": push.provider,
                            "status": push.status, "attempts": push.attempts});
        match (push.sent_at, push.status.as_str()) {
            (Some(at), _) => timeline.push(entry(at, "push_sent", detail)),
            (None, "failed" | "abandoned" | "skipped") => {
                timeline.push(entry(push.created_at, "push_failed", detail));
            }
            _ => {}
        }
    }
    if let Some(at) = request.decided_at {
        timeline.push(entry(
            at,
            "decided",
            json!({"approved": request.status != crate::store::RequestStatus::Denied,
                   "device_id": request.decided_by, "deny_reason": request.deny_reason}),
        ));
    }
    for n in &notifications {
        let detail = json!({"kind": n.kind, "status": n.status, "attempts": n.attempts});
        match (n.delivered_at, n.status.as_str()) {
            (Some(at), _) => timeline.push(entry(at, "notified", detail)),
            (None, "failed" | "abandoned") => {
                timeline.push(entry(n.created_at, "notification_failed", detail));
            }
            _ => {}
        }
    }
    if let Some(at) = request.redeemed_at {
        timeline.push(entry(at, "redeemed", json!({})));
    }
    let summary = summary(request, now);
    if summary.state == "expired" {
        timeline.push(entry(summary.expires_at, "expired", json!({})));
    }
    for event in &audit {
        if !matches!(event.kind.as_str(), "ciba_request" | "push_enqueued") {
            timeline.push(entry(event.at, &event.kind, event.detail.clone()));
        }
    }
    timeline.sort_by_key(|e| e.at);
    Ok(RequestDetail {
        request: summary,
        timeline,
        pushes,
        notifications,
        audit,
    })
}

/// `POST /admin/v1/requests/{id}/cancel`: a live request is withdrawn (its client's poll gets
/// `access_denied`, a ping or push client is notified, the phone can no longer decide it).
pub async fn cancel_request(state: &AppState, _: &Admin, id: &str) -> Result<RequestSummary> {
    let request = state
        .store
        .request(id)
        .await?
        .ok_or_else(|| not_found("request"))?;
    let now = state.now();
    let deadline = now + state.settings.notifications.retry_window;
    if !state.store.cancel_request(id, now, deadline).await? {
        return Err(Error::admin(
            AdminCode::Conflict,
            "the request is no longer pending or approved",
        ));
    }
    state.notify_wake.notify_one();
    let mut event = audit_event(now, "request_cancelled", Some(&request.user_id));
    event.client_id = Some(request.client_id.clone());
    event.request_id = Some(request.id.clone());
    event.detail = json!({"by": "admin"});
    state.audit(event).await;
    let request = state
        .store
        .request(id)
        .await?
        .ok_or_else(|| not_found("request"))?;
    Ok(summary(request, now))
}

/// Answer of `POST /admin/v1/clients/{id}/secret`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The client.
    pub client_id: String,
    /// The new secret, shown once (the old one stops working at once).
    pub client_secret: String,
}

/// `POST /admin/v1/clients/{id}/secret`: a new secret for a secret-authenticated client.
pub async fn rotate_client_secret(state: &AppState, _: &Admin, id: &str) -> Result<RotatedSecret> {
    let mut client = state
        .store
        .client(id)
        .await?
        .ok_or_else(|| not_found("client"))?;
    if !matches!(
        client.auth_method,
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
    ) {
        return Err(invalid(&format!(
            "this client authenticates with {}, not a secret",
            client.auth_method.as_str()
        )));
    }
    let secret = random_b64u(32)?;
    client.secret_hash = Some(hash_secret(&secret));
    if !state.store.update_client(&client).await? {
        return Err(not_found("client"));
    }
    state.clients.forget(id);
    let mut event = audit_event(state.now(), "client_secret_rotated", None);
    event.client_id = Some(id.to_owned());
    state.audit(event).await;
    Ok(RotatedSecret {
        client_id: client.id,
        client_secret: secret,
    })
}
