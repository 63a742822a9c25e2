//! Rendering errors: the one place that turns a domain [`Error`] (or a rejection of the HTTP
//! layer itself: no such route, wrong method, a body too large or unreadable) into a status code,
//! headers and an RFC 6749 error body `{"error", "error_description"}`. The device and admin APIs
//! use the same shape. Every error answer is `Cache-Control: no-store`.

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::ErrorBody;

use crate::error::{AdminCode, DeviceCode, Error, OAuthCode};

/// What a handler or extractor answers when it fails.
#[derive(Debug)]
pub enum ApiError {
    /// A domain error.
    Domain(Error),
    /// The HTTP layer refused the request before any handler saw it.
    Rejected(Rejection),
}

/// Refusals of the HTTP layer itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No route has this path.
    NoSuchEndpoint,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// The body is over the configured limit.
    BodyTooLarge,
    /// The body could not be read (the connection broke, bad framing).
    BodyUnreadable,
    /// The request was not read and answered within `[http] request_timeout_ms`.
    Timeout,
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Domain(e.into())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        Self::Rejected(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Rejection::BodyTooLarge
        } else {
            Rejection::BodyUnreadable
        })
    }
}

/// The status of a domain error, and the challenge its answer carries.
fn status_of(error: &Error) -> (StatusCode, Option<&'static str>) {
    match error {
        Error::OAuth {
            code: OAuthCode::InvalidClient,
            ..
        } => (StatusCode::UNAUTHORIZED, Some("Basic realm=\"ciba\"")),
        Error::OAuth {
            code: OAuthCode::RateLimited | OAuthCode::TooManyPendingRequests,
            ..
        } => (StatusCode::TOO_MANY_REQUESTS, None),
        Error::OAuth {
            code: OAuthCode::InvalidToken,
            ..
        } => (
            StatusCode::UNAUTHORIZED,
            Some("Bearer realm=\"ciba\", error=\"invalid_token\""),
        ),
        Error::OAuth {
            code: OAuthCode::InsufficientScope,
            ..
        } => (
            StatusCode::FORBIDDEN,
            Some("Bearer realm=\"ciba\", error=\"insufficient_scope\", scope=\"openid\""),
        ),
        Error::OAuth { .. } => (StatusCode::BAD_REQUEST, None),
        Error::Device { code, .. } => (
            match code {
                DeviceCode::InvalidDpopProof
                | DeviceCode::UnknownDevice
                | DeviceCode::DeviceRevoked => StatusCode::UNAUTHORIZED,
                DeviceCode::InvalidRequest
                | DeviceCode::InvalidEnrollmentCode
                | DeviceCode::AttestationFailed
                | DeviceCode::InvalidDecision => StatusCode::BAD_REQUEST,
                DeviceCode::DeviceAlreadyEnrolled
                | DeviceCode::KeyChanged
                | DeviceCode::AlreadyDecided => StatusCode::CONFLICT,
                DeviceCode::Expired => StatusCode::GONE,
                DeviceCode::NotFound => StatusCode::NOT_FOUND,
            },
            None,
        ),
        Error::Admin { code, .. } => match code {
            AdminCode::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"ciba-admin\""),
            ),
            AdminCode::InvalidRequest | AdminCode::InvalidClientMetadata => {
                (StatusCode::BAD_REQUEST, None)
            }
            AdminCode::NotFound => (StatusCode::NOT_FOUND, None),
            AdminCode::Conflict => (StatusCode::CONFLICT, None),
            AdminCode::CsrfTokenInvalid => (StatusCode::FORBIDDEN, None),
        },
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
        Error::Internal => (StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

impl Rejection {
    fn answer(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::NoSuchEndpoint => (StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed",
            ),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is too large",
            ),
            Self::BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body could not be read",
            ),
            Self::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "the request took too long to arrive and be answered",
            ),
        }
    }
}

/// RFC 6749 forbids some characters in `error_description`; keep it to printable text.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c
            } else {
                ' '
            }
        })
        .collect()
}

fn render(
    status: StatusCode,
    code: &str,
    description: &str,
    challenge: Option<&'static str>,
) -> Response {
    let body = ErrorBody {
        error: code.to_owned(),
        error_description: Some(sanitize(description)),
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(challenge) = challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Domain(error) => error.into_response(),
            Self::Rejected(rejection) => rejection.into_response(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, challenge) = status_of(&self);
        let mut response = render(status, self.code(), self.description(), challenge);
        if matches!(
            self,
            Error::OAuth {
                code: OAuthCode::RateLimited,
                ..
            }
        ) {
            // The limit counts per second.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, description) = self.answer();
        render(status, code, description, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_lose_control_characters() {
        assert_eq!(sanitize("a\r\nb\tc\"d"), "a  b c d");
    }

    #[test]
    fn statuses_and_challenges() {
        // Every 401 carries its challenge (RFC 7235 §3.1), whichever method the client tried.
        assert_eq!(
            status_of(&Error::invalid_client("x")),
            (StatusCode::UNAUTHORIZED, Some("Basic realm=\"ciba\""))
        );
        assert_eq!(
            status_of(&Error::oauth(OAuthCode::SlowDown, "x")).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(&Error::device(DeviceCode::Expired, "x")).0,
            StatusCode::GONE
        );
        assert_eq!(
            status_of(&Error::admin(AdminCode::InvalidToken, "x")),
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"ciba-admin\"")
            )
        );
        assert_eq!(
            status_of(&Error::Unavailable("x".into())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
