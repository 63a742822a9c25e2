//! The routes and their handlers: each reads its caller and body through an extractor, calls
//! one domain operation, and shapes the answer. No rules here.

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::trace::TraceLayer;

use super::console;
use super::error::{ApiResult, Rejection};
use super::extractors::ClientCall;
use crate::ciba::{self, BackchannelRequest, TokenRequest};
use crate::clients::dynamic;
use crate::state::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (api, document) = super::openapi::documented_routes(&state.settings.issuer());
    let document = super::openapi::document_json(&document).map_err(|e| e.to_string());
    if let Err(e) = &document {
        tracing::error!(error = %e, "the OpenAPI document could not be written");
    }
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
        // The admin, device and console-session APIs: routed from their handlers' OpenAPI
        // annotations, so the document served here is the routing table itself.
        .merge(api)
        .route(
            super::openapi::DOCUMENT_PATH,
            get(move || std::future::ready(super::openapi::serve(&document))),
        )
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/console/icon.svg", get(console::icon))
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

async fn discovery(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(ciba::discovery_document(&state).await?))
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
