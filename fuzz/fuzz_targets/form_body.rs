//! `FormParams::parse`: the `application/x-www-form-urlencoded` body of every OAuth endpoint
//! (backchannel authentication, token), straight from the client.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use ciba_server::http::body::FormParams;
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "client_id",
    "client_secret",
    "scope",
    "login_hint",
    "binding_message",
    "authorization_details",
    "grant_type",
    "auth_req_id",
    "",
];

fuzz_target!(|body: &[u8]| {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let Ok(params) = FormParams::parse(&headers, body) else {
        return;
    };
    for name in NAMES {
        let got = params.get(name);
        // An empty value counts as absent (RFC 6749 §3.1).
        assert!(got.is_none_or(|v| !v.is_empty()));
        assert_eq!(params.require(name).ok(), got);
        assert_eq!(params.take(name).as_deref(), got);
    }
});
