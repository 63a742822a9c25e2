//! The admin API's handlers: the [`Admin`] extractor first, then the body or query, then one
//! operation of `crate::admin`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiResult;
use super::extractors::{AdminJson, AdminQuery, PathParam};
use crate::admin::{self, Admin, AuditQuery, NewUserRequest};
use crate::clients::{ClientRegistration, RegisteredClient};
use crate::state::AppState;
use crate::store::{User, UserStatus};

/// `POST /admin/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(req): AdminJson<NewUserRequest>,
) -> ApiResult<Response> {
    let user = admin::create_user(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// `GET /admin/v1/users/{id}`.
pub async fn get_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<User>> {
    Ok(Json(admin::user(&state, &caller, &id).await?))
}

/// `DELETE /admin/v1/users/{id}`.
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::delete_user(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/lock`.
pub async fn lock_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<User>> {
    Ok(Json(
        admin::set_user_status(&state, &caller, &id, UserStatus::Locked).await?,
    ))
}

/// `POST /admin/v1/users/{id}/unlock`.
pub async fn unlock_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<User>> {
    Ok(Json(
        admin::set_user_status(&state, &caller, &id, UserStatus::Active).await?,
    ))
}

/// `POST /admin/v1/clients`.
pub async fn create_client(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(reg): AdminJson<ClientRegistration>,
) -> ApiResult<Response> {
    let client = admin::create_client(&state, &caller, reg).await?;
    Ok((StatusCode::CREATED, Json(client)).into_response())
}

/// `GET /admin/v1/clients/{id}`.
pub async fn get_client(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<RegisteredClient>> {
    Ok(Json(admin::client(&state, &caller, &id).await?))
}

/// `DELETE /admin/v1/clients/{id}`.
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::delete_client(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/enrollments`.
pub async fn create_user_enrollment(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
    AdminQuery(query): AdminQuery<admin::EnrollmentQuery>,
) -> ApiResult<Response> {
    let created = admin::create_enrollment(&state, &caller, &id, query).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /admin/v1/users/{id}/devices`.
pub async fn list_devices(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<serde_json::Value>> {
    let devices = admin::devices_of_user(&state, &caller, &id).await?;
    Ok(Json(json!({ "devices": devices })))
}

/// `DELETE /admin/v1/devices/{device_id}`.
pub async fn revoke_device(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::revoke_device(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/audit?user_id=&since=&limit=`.
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<AuditQuery>,
) -> ApiResult<Json<admin::AuditPage>> {
    Ok(Json(admin::audit_log(&state, &caller, query).await?))
}

/// `GET /admin/v1/signing-keys`.
pub async fn signing_keys(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let keys = admin::signing_keys(&state, &caller).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// `POST /admin/v1/signing-keys/rotate`.
pub async fn rotate_signing_keys(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let keys = admin::rotate_signing_keys(&state, &caller).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// `PUT /admin/v1/users/{id}/user-code`.
pub async fn set_user_code(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
    AdminJson(req): AdminJson<admin::UserCodeRequest>,
) -> ApiResult<StatusCode> {
    admin::set_user_code(&state, &caller, &id, Some(&req)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v1/users/{id}/user-code`.
pub async fn delete_user_code(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::set_user_code(&state, &caller, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/initial-access-tokens`.
pub async fn create_initial_access_token(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(req): AdminJson<admin::InitialAccessTokenRequest>,
) -> ApiResult<Response> {
    let token = admin::create_initial_access_token(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, super::routes::no_store(token)).into_response())
}

/// A page of a listing: `{"<name>": [...], "next_cursor": …}`.
fn page_json<T: serde::Serialize>(name: &str, page: admin::Page<T>) -> Json<serde_json::Value> {
    let mut body = json!({ name: page.items });
    if let Some(cursor) = page.next_cursor {
        body["next_cursor"] = json!(cursor);
    }
    Json(body)
}

/// `GET /admin/v1/users?q=&status=&limit=&cursor=`.
pub async fn list_users(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::UserListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(page_json(
        "users",
        admin::users(&state, &caller, query).await?,
    ))
}

/// `GET /admin/v1/clients?limit=&cursor=`.
pub async fn list_clients(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(page_json(
        "clients",
        admin::clients(&state, &caller, query).await?,
    ))
}

/// `GET /admin/v1/devices?user_id=&status=&platform=&push_token_valid=&limit=&cursor=`.
pub async fn list_all_devices(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::DeviceListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(page_json(
        "devices",
        admin::devices(&state, &caller, query).await?,
    ))
}

/// `GET /admin/v1/requests?client_id=&user_id=&state=&limit=&cursor=`.
pub async fn list_requests(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::RequestListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(page_json(
        "requests",
        admin::requests(&state, &caller, query).await?,
    ))
}

/// `GET /admin/v1/requests/{id}`.
pub async fn get_request(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<admin::RequestDetail>> {
    Ok(Json(admin::request(&state, &caller, &id).await?))
}

/// `POST /admin/v1/requests/{id}/cancel`.
pub async fn cancel_request(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<admin::RequestSummary>> {
    Ok(Json(admin::cancel_request(&state, &caller, &id).await?))
}

/// `POST /admin/v1/clients/{id}/secret`.
pub async fn rotate_client_secret(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let rotated = admin::rotate_client_secret(&state, &caller, &id).await?;
    Ok(super::routes::no_store(rotated))
}
