//! What the FCM and APNs clients share: the HTTP client, `Retry-After`, error mapping.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::{PushError, PushSetupError};
use crate::config::PushSettings;

/// One client (one connection pool) per provider. `http2_only` speaks HTTP/2 from the first
/// byte (APNs requires HTTP/2); otherwise ALPN chooses, preferring HTTP/2.
pub fn build_client(
    settings: &PushSettings,
    http2_only: bool,
) -> Result<reqwest::Client, PushSetupError> {
    let alpn: &[&[u8]] = if http2_only {
        &[b"h2"]
    } else {
        &[b"h2", b"http/1.1"]
    };
    let tls = crate::tls::client_config(&settings.extra_root_certificates, alpn)
        .map_err(PushSetupError::Client)?;
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .timeout(Duration::from_millis(settings.timeout_ms))
        // Providers want long-lived connections; pings keep an idle one from being cut.
        .pool_idle_timeout(None)
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_while_idle(true)
        .user_agent(concat!("ciba-server/", env!("CARGO_PKG_VERSION")));
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    builder
        .build()
        .map_err(|e| PushSetupError::Client(e.to_string()))
}

/// A transport failure.
pub fn network_error(error: &reqwest::Error) -> PushError {
    PushError::Network(crate::outbox::describe_transport_error(error))
}

/// `Retry-After` in seconds from `now`: delta-seconds, or an HTTP-date compared with the
/// injected clock's `now`.
pub fn retry_after(headers: &HeaderMap, now: i64) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds.max(0));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some((i64::try_from(at).ok()? - now).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::SystemTime;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, 0), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(retry_after(&h, 0), Some(30));
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(date)).unwrap(),
        );
        assert_eq!(retry_after(&h, 1_700_000_000), Some(100));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, 0), None);
    }
}
