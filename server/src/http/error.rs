//! One error type for every endpoint, rendered as an RFC 6749 error body
//! `{"error", "error_description"}` — the device and admin APIs use the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::ErrorBody;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code.
    pub code: &'static str,
    /// The `error_description`.
    pub description: String,
    /// A `WWW-Authenticate` challenge to send.
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, code and description.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: sanitize(description.into()),
            www_authenticate: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    /// 401 `invalid_client`, with a `Basic` challenge when the client tried Basic.
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        if basic {
            e.www_authenticate = Some("Basic realm=\"ciba\"");
        }
        e
    }

    /// 404 `not_found`.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 500 `server_error`; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server failed; try again later",
        )
    }
}

/// RFC 6749 forbids some characters in `error_description`; keep it to printable text.
fn sanitize(text: String) -> String {
    if text
        .chars()
        .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
    {
        return text;
    }
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) => {
                tracing::error!(error = %e, "database error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "storage is unavailable; try again",
                )
            }
            other => Self::internal(other),
        }
    }
}

impl From<crate::crypto::RngError> for ApiError {
    fn from(e: crate::crypto::RngError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            error_description: Some(self.description),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_lose_control_characters() {
        let e = ApiError::invalid_request("a\r\nb\tc\"d");
        assert_eq!(e.description, "a  b c d");
    }
}
