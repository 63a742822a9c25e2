//! Reading request bodies without axum's plain-text rejections: OAuth endpoints must answer
//! every malformed request with an RFC 6749 JSON error.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Form parameters of an OAuth request, each present at most once.
#[derive(Debug, Default)]
pub struct FormParams(HashMap<String, String>);

impl FormParams {
    /// Parses an `application/x-www-form-urlencoded` body. A repeated parameter is an
    /// `invalid_request` (RFC 6749 §3.1).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(ApiError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if map
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(ApiError::invalid_request(format!(
                    "parameter {key} is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::invalid_request(format!("parameter {name} is missing")))
    }
}

/// Parses a JSON body into `T`, answering `invalid_request` with the reason otherwise.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::invalid_request(
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("malformed JSON body: {e}")))
}
