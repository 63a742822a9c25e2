use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use ciba_core::protocol::{
    DecisionRequest, DeviceStatus, DeviceStatusResponse, EnrollmentRequest, KeyRotationRequest,
    PushRegistration, TransactionList, paths,
};
use serde::Serialize;
use serde_json::json;
use tower_http::trace::TraceLayer;

use super::body::{FormParams, parse_json};
use super::error::{ApiError, ApiResult};
use crate::admin;
use crate::ciba::{self, CIBA_GRANT_TYPE};
use crate::clients::{AUTH_METHODS, DELIVERY_MODES, authenticate_client};
use crate::devices;
use crate::state::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/backchannel/authenticate", post(backchannel_authenticate))
        .route("/token", post(token))
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
        .route("/admin/v1/users", post(admin::create_user))
        .route(
            "/admin/v1/users/{id}",
            get(admin::get_user).delete(admin::delete_user),
        )
        .route(
            "/admin/v1/users/{id}/enrollments",
            post(admin::create_user_enrollment),
        )
        .route("/admin/v1/users/{id}/devices", get(admin::list_devices))
        .route("/admin/v1/users/{id}/lock", post(admin::lock_user))
        .route("/admin/v1/users/{id}/unlock", post(admin::unlock_user))
        .route("/admin/v1/clients", post(admin::create_client))
        .route(
            "/admin/v1/clients/{id}",
            get(admin::get_client).delete(admin::delete_client),
        )
        .route("/admin/v1/devices/{id}", delete(admin::revoke_device))
        .route("/admin/v1/audit", get(admin::audit_log))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(64 * 1024))
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

fn no_store<T: Serialize>(body: T) -> Response {
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
    let issuer = &state.issuer;
    let mut scopes = state.settings.ciba.default_client_scope.clone();
    scopes.sort();
    Json(json!({
        "issuer": issuer,
        "backchannel_authentication_endpoint": format!("{issuer}/backchannel/authenticate"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "backchannel_token_delivery_modes_supported": DELIVERY_MODES,
        "backchannel_user_code_parameter_supported": false,
        "grant_types_supported": [CIBA_GRANT_TYPE],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": [],
        "scopes_supported": scopes,
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "auth_time", "amr", "at_hash"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "authorization_details_types_supported": [],
    }))
}

async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let mut response = Json(state.keys().await?.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response(),
    }
}

async fn backchannel_authenticate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let params = FormParams::parse(&headers, &body)?;
    let client = authenticate_client(&state, &headers, &params).await?;
    let ack = ciba::start_request(&state, &client, &params).await?;
    Ok(no_store(ack))
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let params = FormParams::parse(&headers, &body)?;
    let client = authenticate_client(&state, &headers, &params).await?;
    match params.require("grant_type")? {
        CIBA_GRANT_TYPE => Ok(no_store(
            ciba::redeem_with_ciba_grant(&state, &client, &params).await?,
        )),
        other => Err(ApiError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported"),
        )),
    }
}

async fn device_enroll(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let proof = devices::verify_dpop(&state, &method, uri.path(), &headers).await?;
    let request: EnrollmentRequest = parse_json(&headers, &body)?;
    let enrolled = devices::enroll(&state, proof, request).await?;
    Ok((StatusCode::CREATED, no_store(enrolled)).into_response())
}

async fn device_transactions(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    let transactions = devices::transactions_of_user(&state, &device.user_id).await?;
    Ok(no_store(TransactionList { transactions }))
}

async fn device_transaction(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(txn_id): Path<String>,
) -> ApiResult<Response> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    let request = state.store.request(&txn_id).await?;
    let request = request
        .filter(|r| r.user_id == device.user_id)
        .ok_or_else(|| ApiError::not_found("no such transaction"))?;
    Ok(no_store(devices::transaction_view(&state, &request).await?))
}

async fn device_decision(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(txn_id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    let request: DecisionRequest = parse_json(&headers, &body)?;
    Ok(no_store(
        devices::record_decision(&state, &device, &txn_id, request).await?,
    ))
}

async fn device_status(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // A revoked device must be able to learn that it was revoked, so look it up directly.
    let proof = devices::verify_dpop(&state, &method, uri.path(), &headers).await?;
    let device = state
        .store
        .device_by_jkt(&proof.jkt)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ciba_core::protocol::error_codes::UNKNOWN_DEVICE,
                "no enrolled device has this key",
            )
        })?;
    Ok(no_store(DeviceStatusResponse {
        status: if device.is_active() {
            DeviceStatus::Active
        } else {
            DeviceStatus::Revoked
        },
        push: PushRegistration {
            provider: device.push_provider,
            token: device.push_token,
            environment: device.push_environment,
        },
        enrolled_at: device.enrolled_at,
        device_id: device.id,
    }))
}

async fn device_push_token(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    let push: PushRegistration = parse_json(&headers, &body)?;
    devices::update_push_token(&state, &device, push).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn device_key_rotation(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    let request: KeyRotationRequest = parse_json(&headers, &body)?;
    Ok(no_store(
        devices::rotate_key(&state, &device, request).await?,
    ))
}

async fn device_unenroll(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let device = devices::authenticate_device(&state, &method, uri.path(), &headers).await?;
    devices::unenroll(&state, &device).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
