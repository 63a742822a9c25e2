//! The admin API (DEVICE-PROTOCOL.md §8): the bank's backend manages users, clients,
//! enrollments and devices, and reads the audit log. Bearer token, compared in constant time.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clients::{ClientRegistration, RegisteredClient, register_client};
use crate::crypto::{random_b64u, random_id};
use crate::devices::create_enrollment;
use crate::http::body::parse_json;
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Device, NewAuditEvent, StoreError, User, UserStatus};

/// Checks `Authorization: Bearer <admin token>`.
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(t) if state.is_admin_token(t) => Ok(()),
        _ => {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a valid admin bearer token is required",
            );
            e.www_authenticate = Some("Bearer realm=\"ciba-admin\"");
            Err(e)
        }
    }
}

/// Body of `POST /admin/v1/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Unique login name.
    pub username: String,
    /// Optional unique email.
    #[serde(default)]
    pub email: Option<String>,
    /// Optional unique phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Name shown on the phone.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn field_ok(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.trim() == value
        && !value.chars().any(char::is_control)
}

/// `POST /admin/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let req: NewUserRequest = parse_json(&headers, &body)?;
    if !field_ok(&req.username, 128) {
        return Err(ApiError::invalid_request(
            "username must be 1 to 128 characters without surrounding spaces",
        ));
    }
    if req
        .email
        .as_deref()
        .is_some_and(|e| !field_ok(e, 254) || !e.contains('@'))
    {
        return Err(ApiError::invalid_request("email is malformed"));
    }
    if req.phone.as_deref().is_some_and(|p| !field_ok(p, 32)) {
        return Err(ApiError::invalid_request("phone is malformed"));
    }
    if req
        .display_name
        .as_deref()
        .is_some_and(|d| !field_ok(d, 128))
    {
        return Err(ApiError::invalid_request(
            "display_name must be 1 to 128 characters",
        ));
    }
    let now = state.now();
    let user = User {
        id: random_id("usr_")?,
        subject: random_b64u(16)?,
        username: req.username,
        email: req.email,
        phone: req.phone,
        display_name: req.display_name,
        status: UserStatus::Active,
        created_at: now,
    };
    match state.store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the username, email or phone is already taken",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(audit_event(now, "user_created", Some(&user.id)))
        .await;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

fn audit_event(at: i64, kind: &'static str, user_id: Option<&str>) -> NewAuditEvent {
    NewAuditEvent {
        at,
        kind,
        user_id: user_id.map(str::to_owned),
        client_id: None,
        device_id: None,
        request_id: None,
        detail: json!({}),
    }
}

/// `GET /admin/v1/users/{id}`.
pub async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<User>> {
    require_admin(&state, &headers)?;
    Ok(Json(
        state
            .store
            .user(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))?,
    ))
}

/// `DELETE /admin/v1/users/{id}`: the user, their devices and enrollments go; their pending
/// requests are cancelled.
pub async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &headers)?;
    if !state.store.delete_user(&id).await? {
        return Err(ApiError::not_found("no such user"));
    }
    state
        .audit(audit_event(state.now(), "user_deleted", Some(&id)))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/lock`: refuse CIBA requests for the user until unlocked.
pub async fn lock_user(
    state: State<AppState>,
    headers: HeaderMap,
    id: Path<String>,
) -> ApiResult<Json<User>> {
    set_status(state, headers, id, UserStatus::Locked, "user_locked").await
}

/// `POST /admin/v1/users/{id}/unlock`: accept CIBA requests for the user again (after a fraud
/// report was investigated).
pub async fn unlock_user(
    state: State<AppState>,
    headers: HeaderMap,
    id: Path<String>,
) -> ApiResult<Json<User>> {
    set_status(state, headers, id, UserStatus::Active, "user_unlocked").await
}

async fn set_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    status: UserStatus,
    kind: &'static str,
) -> ApiResult<Json<User>> {
    require_admin(&state, &headers)?;
    if !state.store.set_user_status(&id, status).await? {
        return Err(ApiError::not_found("no such user"));
    }
    let mut event = audit_event(state.now(), kind, Some(&id));
    event.detail = json!({"by": "admin"});
    state.audit(event).await;
    Ok(Json(
        state
            .store
            .user(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))?,
    ))
}

/// `POST /admin/v1/clients`.
pub async fn create_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let reg: ClientRegistration = parse_json(&headers, &body)?;
    let now = state.now();
    let (client, secret) = register_client(
        reg,
        &state.settings.ciba.default_client_scope,
        &state.settings.notifications,
        now,
    )?;
    state.store.insert_client(&client).await?;
    let mut event = audit_event(now, "client_created", None);
    event.client_id = Some(client.id.clone());
    state.audit(event).await;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredClient::from_client(&client, Some(secret))),
    )
        .into_response())
}

/// `GET /admin/v1/clients/{id}`.
pub async fn get_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<RegisteredClient>> {
    require_admin(&state, &headers)?;
    let client = state
        .store
        .client(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such client"))?;
    Ok(Json(RegisteredClient::from_client(&client, None)))
}

/// `DELETE /admin/v1/clients/{id}`.
pub async fn delete_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &headers)?;
    let deleted = state.store.delete_client(&id).await?;
    // After the delete, so a concurrent request cannot cache it again in between.
    state.clients.forget(&id);
    if !deleted {
        return Err(ApiError::not_found("no such client"));
    }
    let mut event = audit_event(state.now(), "client_deleted", None);
    event.client_id = Some(id);
    state.audit(event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/enrollments`.
pub async fn create_user_enrollment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let created = create_enrollment(&state, &id).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// A device as the admin API shows it (never the push token).
#[derive(Debug, Serialize)]
pub struct DeviceSummary {
    device_id: String,
    user_id: String,
    status: String,
    display_name: String,
    platform: String,
    model: Option<String>,
    os_version: Option<String>,
    app_version: Option<String>,
    sdk_version: Option<String>,
    push: serde_json::Value,
    jkt: String,
    enrolled_at: i64,
    revoked_at: Option<i64>,
}

impl From<Device> for DeviceSummary {
    fn from(d: Device) -> Self {
        Self {
            push: json!({"provider": d.push_provider.as_str(), "environment": d.push_environment.as_str(),
                         "has_token": d.push_token.is_some(),
                         "token_valid": d.push_token.is_some() && d.push_token_invalid_at.is_none(),
                         "token_invalid_since": d.push_token_invalid_at}),
            device_id: d.id,
            user_id: d.user_id,
            status: d.status.as_str().to_owned(),
            display_name: d.display_name,
            platform: d.platform.as_str().to_owned(),
            model: d.model,
            os_version: d.os_version,
            app_version: d.app_version,
            sdk_version: d.sdk_version,
            jkt: d.jkt,
            enrolled_at: d.enrolled_at,
            revoked_at: d.revoked_at,
        }
    }
}

/// `GET /admin/v1/users/{id}/devices`.
pub async fn list_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    require_admin(&state, &headers)?;
    if state.store.user(&id).await?.is_none() {
        return Err(ApiError::not_found("no such user"));
    }
    let devices: Vec<DeviceSummary> = state
        .store
        .devices_of_user(&id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "devices": devices })))
}

/// `DELETE /admin/v1/devices/{device_id}`: revoke.
pub async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &headers)?;
    let device = state
        .store
        .device(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    let now = state.now();
    if state.store.revoke_device(&id, now).await? {
        let mut event = audit_event(now, "device_revoked", Some(&device.user_id));
        event.device_id = Some(id);
        event.detail = json!({"by": "admin"});
        state.audit(event).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /admin/v1/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    user_id: Option<String>,
    since: Option<i64>,
    limit: Option<i64>,
}

/// `GET /admin/v1/audit?user_id=&since=&limit=`.
pub async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    require_admin(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let events = state
        .store
        .audit_events(q.user_id.as_deref(), q.since, limit)
        .await?;
    Ok(Json(json!({ "events": events })))
}
