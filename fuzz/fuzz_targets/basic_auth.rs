//! `basic_credentials`: the client's `Authorization: Basic …` header (RFC 6749 §2.3.1).
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use ciba_server::http::extractors::basic_credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    // What hyper would not hand over as a header value is not outside input.
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    if let Ok(Some((id, _secret))) = basic_credentials(&headers) {
        assert!(!id.is_empty(), "an empty client id was accepted");
    }
});
