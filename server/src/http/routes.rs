//! The routes and their handlers: each reads its caller and body through an extractor, calls
//! one domain operation, and shapes the answer. No rules here.

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use ciba_core::protocol::{
    DecisionRequest, EnrollmentRequest, KeyRotationRequest, PushRegistration, paths,
};
use serde::Serialize;
use tower_http::trace::TraceLayer;

use super::admin as admin_routes;
use super::console;
use super::error::{ApiResult, Rejection};
use super::extractors::{ClientCall, DeviceJson, PathParam};
use crate::ciba::{self, BackchannelRequest, TokenRequest};
use crate::clients::dynamic;
use crate::devices::{self, AuthenticatedDevice, DeviceProof};
use crate::state::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/backchannel/authenticate", post(backchannel_authenticate))
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route(dynamic::REGISTRATION_PATH, post(register_client))
        .route(
            "/register/{id}",
            get(read_registration)
                .put(update_registration)
                .delete(delete_registration),
        )
        .route("/revoke", post(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route(paths::ENROLLMENTS, post(device_enroll))
        .route(paths::TRANSACTIONS, get(device_transactions))
        .route("/device/v1/transactions/{txn_id}", get(device_transaction))
        .route(
            "/device/v1/transactions/{txn_id}/decision",
            post(device_decision),
        )
        .route(paths::DEVICE, get(device_status).delete(device_unenroll))
        .route(paths::PUSH_TOKEN, put(device_push_token))
        .route(paths::KEY_ROTATION, post(device_key_rotation))
        .route(
            "/admin/v1/users",
            post(admin_routes::create_user).get(admin_routes::list_users),
        )
        .route(
            "/admin/v1/users/{id}",
            get(admin_routes::get_user).delete(admin_routes::delete_user),
        )
        .route(
            "/admin/v1/users/{id}/enrollments",
            post(admin_routes::create_user_enrollment),
        )
        .route(
            "/admin/v1/users/{id}/devices",
            get(admin_routes::list_devices),
        )
        .route("/admin/v1/users/{id}/lock", post(admin_routes::lock_user))
        .route(
            "/admin/v1/users/{id}/user-code",
            put(admin_routes::set_user_code).delete(admin_routes::delete_user_code),
        )
        .route(
            "/admin/v1/users/{id}/unlock",
            post(admin_routes::unlock_user),
        )
        .route(
            "/admin/v1/clients",
            post(admin_routes::create_client).get(admin_routes::list_clients),
        )
        .route(
            "/admin/v1/clients/{id}/secret",
            post(admin_routes::rotate_client_secret),
        )
        .route("/admin/v1/devices", get(admin_routes::list_all_devices))
        .route("/admin/v1/requests", get(admin_routes::list_requests))
        .route("/admin/v1/requests/{id}", get(admin_routes::get_request))
        .route(
            "/admin/v1/requests/{id}/cancel",
            post(admin_routes::cancel_request),
        )
        .route(
            "/admin/v1/clients/{id}",
            get(admin_routes::get_client).delete(admin_routes::delete_client),
        )
        .route(
            "/admin/v1/devices/{id}",
            delete(admin_routes::revoke_device),
        )
        .route("/admin/v1/audit", get(admin_routes::audit_log))
        .route("/admin/v1/overview", get(console::overview))
        .route("/admin/v1/overview/stream", get(console::overview_stream))
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/console/icon.svg", get(console::icon))
        .route(
            "/console/session",
            post(console::sign_in)
                .get(console::session)
                .delete(console::sign_out),
        )
        .route("/admin/v1/signing-keys", get(admin_routes::signing_keys))
        .route(
            "/admin/v1/initial-access-tokens",
            post(admin_routes::create_initial_access_token),
        )
        .route(
            "/admin/v1/signing-keys/rotate",
            post(admin_routes::rotate_signing_keys),
        )
        .fallback(|| async { Rejection::NoSuchEndpoint })
        .method_not_allowed_fallback(|| async { Rejection::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
        .with_state(state)
}

/// Bounds the time to read a request's body and answer it (`[http] request_timeout_ms`): a
/// client that stops half-way through its body cannot hold a connection and a task for ever.
async fn request_deadline(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = std::time::Duration::from_millis(state.settings.http.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Rejection::Timeout.into_response(),
    }
}

/// A JSON answer that no cache keeps (tokens, codes, anything about a user).
pub(super) fn no_store<T: Serialize>(body: T) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(ciba::discovery_document(&state))
}

async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let mut response = Json(state.keys().await?.jwks(state.now())).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness().await {
        Ok(()) => {
            let degradations = state.degradations();
            if degradations.is_empty() {
                (StatusCode::OK, "ready".to_owned()).into_response()
            } else {
                let text = format!("ready; degraded: {}", degradations.join("; "));
                (StatusCode::OK, text).into_response()
            }
        }
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    state.push.render_health(&mut text);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn backchannel_authenticate(
    State(state): State<AppState>,
    call: ClientCall<BackchannelRequest>,
) -> ApiResult<Response> {
    let ack = ciba::start_request(&state, &call.client, call.request).await?;
    Ok(no_store(ack))
}

async fn token(
    State(state): State<AppState>,
    call: ClientCall<TokenRequest>,
) -> ApiResult<Response> {
    let tokens = ciba::redeem(&state, &call.client, call.request).await?;
    Ok(no_store(tokens))
}

/// A dynamic-registration body (RFC 7591): a JSON object.
fn registration_body(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, crate::error::Error> {
    super::body::parse_json(headers, body, |why| {
        crate::error::Error::oauth(crate::error::OAuthCode::InvalidClientMetadata, why)
    })
}

/// `POST /register` (RFC 7591) with the initial access token.
async fn register_client(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // The token first: an unauthenticated caller learns nothing about the metadata rules.
    let access =
        dynamic::authorize_registration(&state, super::extractors::bearer_token(&headers)).await?;
    let metadata = registration_body(&headers, &body)?;
    let answer = dynamic::register(&state, access, metadata).await?;
    Ok((StatusCode::CREATED, no_store(answer)).into_response())
}

/// `GET /register/{client_id}` (RFC 7592).
async fn read_registration(
    State(state): State<AppState>,
    super::extractors::PathParam(id): super::extractors::PathParam,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let token = super::extractors::bearer_token(&headers);
    Ok(no_store(dynamic::read(&state, &id, token).await?))
}

/// `PUT /register/{client_id}` (RFC 7592).
async fn update_registration(
    State(state): State<AppState>,
    super::extractors::PathParam(id): super::extractors::PathParam,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let token = super::extractors::bearer_token(&headers);
    let metadata = registration_body(&headers, &body)?;
    Ok(no_store(
        dynamic::update(&state, &id, token, metadata).await?,
    ))
}

/// `DELETE /register/{client_id}` (RFC 7592).
async fn delete_registration(
    State(state): State<AppState>,
    super::extractors::PathParam(id): super::extractors::PathParam,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    let token = super::extractors::bearer_token(&headers);
    dynamic::delete(&state, &id, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /introspect` (RFC 7662).
async fn introspect(
    State(state): State<AppState>,
    call: ClientCall<crate::lifecycle::IntrospectionRequest>,
) -> ApiResult<Response> {
    let answer = crate::lifecycle::introspect(&state, &call.client, call.request).await?;
    Ok(no_store(answer))
}

/// `POST /revoke` (RFC 7009): 200 with an empty body.
async fn revoke(
    State(state): State<AppState>,
    call: ClientCall<crate::lifecycle::RevocationRequest>,
) -> ApiResult<Response> {
    crate::lifecycle::revoke(&state, &call.client, call.request).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET`/`POST /userinfo` with `Authorization: Bearer <access token>` (RFC 6750 §2.1; the
/// form-body and query methods are not accepted).
async fn userinfo(
    State(state): State<AppState>,
    connection: Option<axum::Extension<super::Connection>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let certificates = super::extractors::client_certificates(
        connection.as_ref().map(|c| &c.0),
        &headers,
        &state,
    )?;
    let token = super::extractors::bearer_token(&headers);
    let claims =
        crate::userinfo::userinfo(&state, token, certificates.as_deref().map(Vec::as_slice))
            .await?;
    Ok(no_store(claims))
}

async fn device_enroll(
    State(state): State<AppState>,
    proof: DeviceProof,
    DeviceJson(request): DeviceJson<EnrollmentRequest>,
) -> ApiResult<Response> {
    let enrolled = devices::enroll(&state, proof, request).await?;
    Ok((StatusCode::CREATED, no_store(enrolled)).into_response())
}

async fn device_transactions(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
) -> ApiResult<Response> {
    Ok(no_store(devices::transactions(&state, &device).await?))
}

async fn device_transaction(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    PathParam(txn_id): PathParam,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::transaction(&state, &device, &txn_id).await?,
    ))
}

async fn device_decision(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    PathParam(txn_id): PathParam,
    DeviceJson(request): DeviceJson<DecisionRequest>,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::record_decision(&state, &device, &txn_id, request).await?,
    ))
}

async fn device_status(State(state): State<AppState>, proof: DeviceProof) -> ApiResult<Response> {
    Ok(no_store(devices::status(&state, &proof).await?))
}

async fn device_push_token(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    DeviceJson(push): DeviceJson<PushRegistration>,
) -> ApiResult<StatusCode> {
    devices::update_push_token(&state, &device, push).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn device_key_rotation(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
    DeviceJson(request): DeviceJson<KeyRotationRequest>,
) -> ApiResult<Response> {
    Ok(no_store(
        devices::rotate_key(&state, &device, request).await?,
    ))
}

async fn device_unenroll(
    State(state): State<AppState>,
    device: AuthenticatedDevice,
) -> ApiResult<StatusCode> {
    devices::unenroll(&state, &device).await?;
    Ok(StatusCode::NO_CONTENT)
}
