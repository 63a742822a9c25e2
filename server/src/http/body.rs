//! Reading request bodies without axum's plain-text rejections: every malformed body is answered
//! with the API's JSON error.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Form parameters of an OAuth request, each present at most once.
#[derive(Debug, Default)]
pub struct FormParams(HashMap<String, String>);

fn mime_is(headers: &HeaderMap, expected: &str) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case(expected)
}

impl FormParams {
    /// Parses an `application/x-www-form-urlencoded` body. A repeated parameter is an
    /// `invalid_request` (RFC 6749 §3.1).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, Error> {
        if !mime_is(headers, "application/x-www-form-urlencoded") {
            return Err(Error::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if map
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(Error::invalid_request(format!(
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

    /// A parameter, owned.
    pub fn take(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| Error::invalid_request(format!("parameter {name} is missing")))
    }
}

/// Parses a JSON body into `T`; a wrong content type or malformed JSON is the error `invalid`
/// makes of the reason (each API has its own `invalid_request`).
pub fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    invalid: fn(String) -> Error,
) -> Result<T, Error> {
    if !mime_is(headers, "application/json") {
        return Err(invalid("the body must be application/json".into()));
    }
    // Every body is an object: serde would also fill a struct from an array by position, which
    // would make the order of fields part of the API.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(invalid("the body must be a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("malformed JSON body: {e}")))
}
