//! The operators' console (README "The console"): its pages and script, embedded in the binary
//! and served under `/console` with a strict Content-Security-Policy, and its sign-in session
//! (`/console/session`), a cookie the admin API then accepts in place of the admin token
//! ([`admin_caller`]). Everything the console shows or changes goes through the admin API.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::ErrorBody;
use serde::Deserialize;

use super::error::ApiResult;
use super::extractors::{
    AdminJson, AdminQuery, CSRF_HEADER, admin_caller, bearer_token, console_cookie_name,
    console_secure, session_cookie,
};
use crate::admin::{self, Admin};
use crate::error::{AdminCode, Error};
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const APP_CSS: &str = include_str!("../../console/app.css");
const ICON_SVG: &str = include_str!("../../console/icon.svg");

/// Scripts and styles only from the console's own files; images also as `data:` (the QR code);
/// no framing, no plugins, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(content_type: &'static str, body: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.console.enabled {
        Ok(())
    } else {
        Err(Error::admin(
            AdminCode::NotFound,
            "the console is disabled ([console] enabled)",
        )
        .into())
    }
}

/// `GET /console`: the console's one page (its views are fragments of it).
pub async fn index(State(state): State<AppState>) -> ApiResult<Response> {
    enabled(&state)?;
    Ok(page("text/html; charset=utf-8", INDEX_HTML, "no-store"))
}

/// `GET /console/app.js`.
pub async fn script(State(state): State<AppState>) -> ApiResult<Response> {
    enabled(&state)?;
    Ok(page("text/javascript; charset=utf-8", APP_JS, "no-cache"))
}

/// `GET /console/app.css`.
pub async fn style(State(state): State<AppState>) -> ApiResult<Response> {
    enabled(&state)?;
    Ok(page("text/css; charset=utf-8", APP_CSS, "no-cache"))
}

/// `GET /console/icon.svg`.
pub async fn icon(State(state): State<AppState>) -> ApiResult<Response> {
    enabled(&state)?;
    Ok(page("image/svg+xml", ICON_SVG, "no-cache"))
}

/// Body of `POST /console/session`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The admin token.
    admin_token: String,
}

fn set_cookie(state: &AppState, value: &str, max_age: i64) -> ApiResult<HeaderValue> {
    let secure = if console_secure(state) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        console_cookie_name(state)
    ))
    .map_err(|_| Error::Internal.into())
}

/// The console session's CSRF token (send it as `X-CSRF-Token` with every change).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsoleSession {
    /// The session's CSRF token.
    pub csrf_token: String,
    /// When the session ends at the latest (Unix seconds; in the sign-in answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `POST /console/session`: signs in with the admin token (JSON `{"admin_token": …}`); the
/// answer sets the session cookie and carries the session's CSRF token.
#[utoipa::path(post, path = "/console/session", tag = "console", request_body = SignInRequest, security(()), responses((status = 200, description = "Signed in: the session cookie is set (`Set-Cookie`), the answer carries its CSRF token", body = ConsoleSession), (status = 401, description = "Not the admin token", body = ErrorBody), (status = 404, description = "The console is disabled", body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    AdminJson(req): AdminJson<SignInRequest>,
) -> ApiResult<Response> {
    enabled(&state)?;
    let signed_in = admin::sign_in(&state, &req.admin_token).await?;
    let max_age = signed_in.expires_at - state.now();
    let mut response = super::routes::no_store(ConsoleSession {
        csrf_token: signed_in.csrf_token,
        expires_at: Some(signed_in.expires_at),
    });
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&state, &signed_in.cookie, max_age)?,
    );
    Ok(response)
}

/// `GET /console/session`: the CSRF token of the caller's session (the console's script asks
/// after a reload), or 401 when it has none.
#[utoipa::path(get, path = "/console/session", tag = "console", security(("console_session" = [])), responses((status = 200, description = "The CSRF token of the caller's open session", body = ConsoleSession), (status = 401, description = "No open session", body = ErrorBody), (status = 404, description = "The console is disabled", body = ErrorBody)))]
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    enabled(&state)?;
    let ended = || Error::admin(AdminCode::InvalidToken, "not signed in to the console");
    let cookie = session_cookie(&state, &headers).ok_or_else(ended)?;
    admin::authorize_session(&state, cookie, None, false, false).await?;
    Ok(super::routes::no_store(ConsoleSession {
        csrf_token: admin::csrf_token(cookie),
        expires_at: None,
    }))
}

/// `DELETE /console/session`: signs out (an open session only with its CSRF header) and clears
/// the cookie (also one whose session already ended).
#[utoipa::path(delete, path = "/console/session", tag = "console", security(("console_session" = []), ()), responses((status = 204, description = "Signed out; the cookie is cleared"), (status = 403, description = "An open session without its CSRF token", body = ErrorBody), (status = 404, description = "The console is disabled", body = ErrorBody)))]
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    enabled(&state)?;
    if let Some(cookie) = session_cookie(&state, &headers) {
        let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        admin::sign_out(&state, cookie, csrf).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", 0)?);
    Ok(response)
}

/// `GET /admin/v1/overview`.
#[utoipa::path(get, path = "/admin/v1/overview", tag = "overview", responses((status = 200, description = "Requests per minute by outcome over the last hour, deliveries, recent errors", body = admin::Overview)))]
pub async fn overview(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<admin::Overview>> {
    Ok(Json(admin::overview(&state, &caller).await?))
}

/// One event of `GET /admin/v1/overview/stream` (between them, keep-alive comments).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // It only describes the events: `Event` writes them.
pub struct OverviewEvent {
    /// `overview`, or `unavailable` when the overview could not be read this time.
    #[schema(pattern = "^(overview|unavailable)$")]
    event: String,
    /// For `overview`, the JSON of `GET /admin/v1/overview`; for `unavailable`, a message.
    data: String,
}

/// Query of `GET /admin/v1/overview/stream`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Seconds between two overviews (1 to 60; 2 by default).
    #[param(minimum = 1, maximum = 60)]
    interval: Option<u64>,
}

/// `GET /admin/v1/overview/stream`: server-sent events, an `overview` event (the JSON of
/// `GET /admin/v1/overview`) at once and then every `interval` seconds. A stream opened with a
/// console session ends when the session does.
#[utoipa::path(get, path = "/admin/v1/overview/stream", tag = "overview", params(StreamQuery), responses((status = 200, description = "Server-sent events: an `overview` event (the JSON of `GET /admin/v1/overview`) at once, then every `interval` seconds", content_type = "text/event-stream", body = OverviewEvent)))]
pub async fn overview_stream(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    AdminQuery(query): AdminQuery<StreamQuery>,
) -> ApiResult<Response> {
    let caller = admin_caller(&state, &method, &headers).await?;
    let interval = match query.interval.unwrap_or(2) {
        n @ 1..=60 => Duration::from_secs(n),
        _ => {
            return Err(Error::admin(AdminCode::InvalidRequest, "interval must be 1 to 60").into());
        }
    };
    let cookie = match bearer_token(&headers) {
        Some(_) => None,
        None => session_cookie(&state, &headers).map(str::to_owned),
    };
    let stream = futures_util::stream::unfold(
        (state, caller, cookie, true),
        move |(state, caller, cookie, first)| async move {
            if !first {
                tokio::time::sleep(interval).await;
                if let Some(c) = &cookie
                    && !admin::session_open(&state, c).await.unwrap_or(false)
                {
                    return None;
                }
            }
            let event = match admin::overview(&state, &caller).await {
                Ok(o) => Event::default().event("overview").json_data(o),
                Err(_) => Ok(Event::default()
                    .event("unavailable")
                    .data("the overview could not be read")),
            };
            Some((event, (state, caller, cookie, false)))
        },
    );
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
