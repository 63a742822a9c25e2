//! The admin API's handlers: the [`Admin`] extractor first, then the body or query, then one
//! operation of `crate::admin`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::ErrorBody;

use super::error::ApiResult;
use super::extractors::{AdminJson, AdminQuery, PathParam};
use crate::admin::{self, Admin, AuditQuery, NewUserRequest};
use crate::clients::{ClientRegistration, RegisteredClient};
use crate::state::AppState;
use crate::store::{User, UserStatus};

/// `POST /admin/v1/users`.
#[utoipa::path(post, path = "/admin/v1/users", tag = "users", request_body = NewUserRequest, responses((status = 201, description = "The user", body = User), (status = 409, description = "The username, email or phone is another user's identifier", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(req): AdminJson<NewUserRequest>,
) -> ApiResult<Response> {
    let user = admin::create_user(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// `GET /admin/v1/users/{id}`.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "users", params(Id), responses((status = 200, description = "The user", body = User), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<User>> {
    Ok(Json(admin::user(&state, &caller, &id).await?))
}

/// `DELETE /admin/v1/users/{id}`.
#[utoipa::path(delete, path = "/admin/v1/users/{id}", tag = "users", params(Id), responses((status = 204, description = "Deleted, with their devices; pending requests cancelled"), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::delete_user(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/lock`.
#[utoipa::path(post, path = "/admin/v1/users/{id}/lock", tag = "users", params(Id), responses((status = 200, description = "The user, locked; every pending request of theirs cancelled", body = User), (status = 404, description = "No such user", body = ErrorBody)))]
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
#[utoipa::path(post, path = "/admin/v1/users/{id}/unlock", tag = "users", params(Id), responses((status = 200, description = "The user, active", body = User), (status = 404, description = "No such user", body = ErrorBody)))]
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
#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients", request_body = ClientRegistration, responses((status = 201, description = "The client, with its secret (shown once)", body = RegisteredClient)))]
pub async fn create_client(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(reg): AdminJson<ClientRegistration>,
) -> ApiResult<Response> {
    let client = admin::create_client(&state, &caller, reg).await?;
    Ok((StatusCode::CREATED, Json(client)).into_response())
}

/// `GET /admin/v1/clients/{id}`.
#[utoipa::path(get, path = "/admin/v1/clients/{id}", tag = "clients", params(Id), responses((status = 200, description = "The client (never its secret)", body = RegisteredClient), (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn get_client(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<RegisteredClient>> {
    Ok(Json(admin::client(&state, &caller, &id).await?))
}

/// `DELETE /admin/v1/clients/{id}`.
#[utoipa::path(delete, path = "/admin/v1/clients/{id}", tag = "clients", params(Id), responses((status = 204, description = "Deleted"), (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::delete_client(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/users/{id}/enrollments`.
#[utoipa::path(post, path = "/admin/v1/users/{id}/enrollments", tag = "users", params(Id, admin::EnrollmentQuery), responses((status = 201, description = "A single-use enrollment code and its URI", body = admin::EnrollmentCreated), (status = 404, description = "No such user", body = ErrorBody)))]
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
#[utoipa::path(get, path = "/admin/v1/users/{id}/devices", tag = "devices", params(Id), responses((status = 200, description = "The user's devices", body = DeviceList), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn list_devices(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<DeviceList>> {
    let devices = admin::devices_of_user(&state, &caller, &id).await?;
    Ok(Json(DeviceList { devices }))
}

/// `DELETE /admin/v1/devices/{device_id}`.
#[utoipa::path(delete, path = "/admin/v1/devices/{id}", tag = "devices", params(Id), responses((status = 204, description = "Revoked"), (status = 404, description = "No such device", body = ErrorBody)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::revoke_device(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/audit?user_id=&since=&limit=`.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, description = "A page of audit events", body = admin::AuditPage)))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<AuditQuery>,
) -> ApiResult<Json<admin::AuditPage>> {
    Ok(Json(admin::audit_log(&state, &caller, query).await?))
}

/// `GET /admin/v1/signing-keys`.
#[utoipa::path(get, path = "/admin/v1/signing-keys", tag = "signing keys", responses((status = 200, description = "The token-signing keys", body = SigningKeys)))]
pub async fn signing_keys(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<SigningKeys>> {
    let keys = admin::signing_keys(&state, &caller).await?;
    Ok(Json(SigningKeys { keys }))
}

/// `POST /admin/v1/signing-keys/rotate`.
#[utoipa::path(post, path = "/admin/v1/signing-keys/rotate", tag = "signing keys", responses((status = 200, description = "The keys after the rotation", body = SigningKeys)))]
pub async fn rotate_signing_keys(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<SigningKeys>> {
    let keys = admin::rotate_signing_keys(&state, &caller).await?;
    Ok(Json(SigningKeys { keys }))
}

/// `PUT /admin/v1/users/{id}/user-code`.
#[utoipa::path(put, path = "/admin/v1/users/{id}/user-code", tag = "users", params(Id), request_body = admin::UserCodeRequest, responses((status = 204, description = "Set"), (status = 404, description = "No such user", body = ErrorBody)))]
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
#[utoipa::path(delete, path = "/admin/v1/users/{id}/user-code", tag = "users", params(Id), responses((status = 204, description = "Removed"), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn delete_user_code(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    admin::set_user_code(&state, &caller, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/initial-access-tokens`.
#[utoipa::path(post, path = "/admin/v1/initial-access-tokens", tag = "clients", request_body = admin::InitialAccessTokenRequest, responses((status = 201, description = "A token for dynamic registration (shown once)", body = admin::InitialAccessToken)))]
pub async fn create_initial_access_token(
    State(state): State<AppState>,
    caller: Admin,
    AdminJson(req): AdminJson<admin::InitialAccessTokenRequest>,
) -> ApiResult<Response> {
    let token = admin::create_initial_access_token(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, super::routes::no_store(token)).into_response())
}

/// Declares the answer of a listing: `{"<name>": [...], "next_cursor": …}` (no cursor on the
/// last page).
macro_rules! page_type {
    ($(#[$meta:meta])* $name:ident, $field:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// This page's items.
            pub $field: Vec<$item>,
            /// Where the next page starts (`cursor=`); absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl From<admin::Page<$item>> for $name {
            fn from(page: admin::Page<$item>) -> Self {
                Self {
                    $field: page.items,
                    next_cursor: page.next_cursor,
                }
            }
        }
    };
}

page_type!(
    /// A page of users, newest first.
    UserPage, users, User
);
page_type!(
    /// A page of clients, newest first.
    ClientPage, clients, RegisteredClient
);
page_type!(
    /// A page of devices, newest first.
    DevicePage, devices, admin::DeviceSummary
);
page_type!(
    /// A page of requests, newest first.
    RequestPage, requests, admin::RequestSummary
);

/// A user's devices.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceList {
    /// Every device of the user, revoked ones too.
    pub devices: Vec<admin::DeviceSummary>,
}

/// The token-signing keys.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SigningKeys {
    /// The keys, active and retired (still published) alike.
    pub keys: Vec<admin::SigningKeyView>,
}

/// The `{id}` of a path: a user, client, device or request id.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // It only describes the parameter: `PathParam` reads it.
pub struct Id {
    /// The id.
    #[param(min_length = 1)]
    id: String,
}

/// `GET /admin/v1/users?q=&status=&limit=&cursor=`.
#[utoipa::path(get, path = "/admin/v1/users", tag = "users", params(admin::UserListQuery), responses((status = 200, description = "A page of users", body = UserPage)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::UserListQuery>,
) -> ApiResult<Json<UserPage>> {
    Ok(Json(admin::users(&state, &caller, query).await?.into()))
}

/// `GET /admin/v1/clients?limit=&cursor=`.
#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients", params(admin::PageQuery), responses((status = 200, description = "A page of clients", body = ClientPage)))]
pub async fn list_clients(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::PageQuery>,
) -> ApiResult<Json<ClientPage>> {
    Ok(Json(admin::clients(&state, &caller, query).await?.into()))
}

/// `GET /admin/v1/devices?user_id=&status=&platform=&push_token_valid=&limit=&cursor=`.
#[utoipa::path(get, path = "/admin/v1/devices", tag = "devices", params(admin::DeviceListQuery), responses((status = 200, description = "A page of devices", body = DevicePage)))]
pub async fn list_all_devices(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::DeviceListQuery>,
) -> ApiResult<Json<DevicePage>> {
    Ok(Json(admin::devices(&state, &caller, query).await?.into()))
}

/// `GET /admin/v1/requests?client_id=&user_id=&state=&limit=&cursor=`.
#[utoipa::path(get, path = "/admin/v1/requests", tag = "requests", params(admin::RequestListQuery), responses((status = 200, description = "A page of requests, newest first", body = RequestPage)))]
pub async fn list_requests(
    State(state): State<AppState>,
    caller: Admin,
    AdminQuery(query): AdminQuery<admin::RequestListQuery>,
) -> ApiResult<Json<RequestPage>> {
    Ok(Json(admin::requests(&state, &caller, query).await?.into()))
}

/// `GET /admin/v1/requests/{id}`.
#[utoipa::path(get, path = "/admin/v1/requests/{id}", tag = "requests", params(Id), responses((status = 200, description = "The request, its pushes, notifications, audit events and timeline", body = admin::RequestDetail), (status = 404, description = "No such request", body = ErrorBody)))]
pub async fn get_request(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<admin::RequestDetail>> {
    Ok(Json(admin::request(&state, &caller, &id).await?))
}

/// `POST /admin/v1/requests/{id}/cancel`.
#[utoipa::path(post, path = "/admin/v1/requests/{id}/cancel", tag = "requests", params(Id), responses((status = 200, description = "The request, cancelled", body = admin::RequestSummary), (status = 404, description = "No such request", body = ErrorBody), (status = 409, description = "The request is not pending", body = ErrorBody)))]
pub async fn cancel_request(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Json<admin::RequestSummary>> {
    Ok(Json(admin::cancel_request(&state, &caller, &id).await?))
}

/// `POST /admin/v1/clients/{id}/secret`.
#[utoipa::path(post, path = "/admin/v1/clients/{id}/secret", tag = "clients", params(Id), responses((status = 200, description = "The new secret (shown once); the old one stops working", body = admin::RotatedSecret), (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn rotate_client_secret(
    State(state): State<AppState>,
    caller: Admin,
    PathParam(id): PathParam,
) -> ApiResult<Response> {
    let rotated = admin::rotate_client_secret(&state, &caller, &id).await?;
    Ok(super::routes::no_store(rotated))
}
