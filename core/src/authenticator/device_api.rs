//! The HTTP side of the device protocol: every call carries a fresh DPoP proof, and every answer
//! is mapped to an [`AuthenticatorError`] here and nowhere else.

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::issuer::{check_issuer, endpoint};
use super::{AuthenticatorConfig, AuthenticatorError};
use crate::clock::SharedClock;
use crate::jose::software::random_b64u;
use crate::jose::{Signer, dpop_proof};
use crate::protocol::{ErrorBody, error_codes};

/// The largest answer body read from a server; the device API's answers are a few KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bytes of randomness in a DPoP `jti` (128 bits; the protocol asks for ≥ 96).
const JTI_BYTES: usize = 16;

/// A client of the device API of any issuer.
#[derive(Debug, Clone)]
pub(crate) struct DeviceApi {
    http: reqwest::Client,
    clock: SharedClock,
}

impl DeviceApi {
    /// One HTTP client for the SDK's lifetime: connection reuse, the configured timeout and
    /// user agent, and no redirects (a redirect would change the URL the DPoP proof is bound to,
    /// and a device API never redirects).
    pub(crate) fn new(
        config: &AuthenticatorConfig,
        clock: SharedClock,
    ) -> Result<Self, AuthenticatorError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthenticatorError::Network(format!("cannot build HTTP client: {e}")))?;
        Ok(Self { http, clock })
    }

    /// Sends one device-API request with a DPoP proof by `signer` and returns the body of a 2xx
    /// answer; any other answer becomes the matching [`AuthenticatorError`].
    pub(crate) async fn call(
        &self,
        signer: &dyn Signer,
        issuer: &str,
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, AuthenticatorError> {
        check_issuer(issuer)?;
        let url = endpoint(issuer, path);
        let jti = random_b64u(JTI_BYTES)?;
        let proof = dpop_proof(signer, method.as_str(), &url, self.clock.now(), &jti)?;

        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("DPoP", proof)
            .header(header::ACCEPT, "application/json");
        if let Some(body) = json_body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        tracing::debug!(%method, %url, "device API call");
        let mut response = request.send().await.map_err(network_error)?;
        let status = response.status();

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(AuthenticatorError::Protocol(format!(
                    "{method} {url}: answer larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(%method, %url, status = status.as_u16(), "device API answer");
        if status.is_success() {
            Ok(body)
        } else {
            Err(error_from_answer(status, &body))
        }
    }
}

/// Decodes the JSON body of a successful answer.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, AuthenticatorError> {
    serde_json::from_slice(body)
        .map_err(|e| AuthenticatorError::Protocol(format!("malformed {what} answer: {e}")))
}

/// The one place where a non-2xx answer becomes an error.
pub(crate) fn error_from_answer(status: StatusCode, body: &[u8]) -> AuthenticatorError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().map(|b| b.error.as_str());
    match (status, code) {
        (StatusCode::UNAUTHORIZED, Some(error_codes::UNKNOWN_DEVICE)) => {
            AuthenticatorError::UnknownDevice
        }
        (StatusCode::UNAUTHORIZED, Some(error_codes::DEVICE_REVOKED)) => {
            AuthenticatorError::DeviceRevoked
        }
        (StatusCode::NOT_FOUND, _) => AuthenticatorError::NotFound,
        (StatusCode::CONFLICT, Some(error_codes::ALREADY_DECIDED)) => {
            AuthenticatorError::AlreadyDecided
        }
        (StatusCode::GONE, Some(error_codes::EXPIRED)) => AuthenticatorError::Expired,
        (_, _) => match parsed {
            Some(b) => AuthenticatorError::Server {
                status: status.as_u16(),
                error: b.error,
                description: b.error_description,
            },
            // Not the protocol's error shape: a proxy's HTML page, an empty 502, a redirect.
            None => AuthenticatorError::Server {
                status: status.as_u16(),
                error: "unexpected_response".into(),
                description: Some(body_excerpt(body)),
            },
        },
    }
}

/// A short, single-line, printable excerpt of a body for error messages.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if excerpt.trim().is_empty() {
        excerpt = "the answer had no error body".into();
    }
    excerpt
}

/// reqwest's top-level message is terse ("error sending request"); the cause chain says why.
fn network_error(e: reqwest::Error) -> AuthenticatorError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    AuthenticatorError::Network(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> AuthenticatorError {
        error_from_answer(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn answers_map_to_typed_errors() {
        assert_eq!(
            err(401, r#"{"error":"unknown_device"}"#),
            AuthenticatorError::UnknownDevice
        );
        assert_eq!(
            err(401, r#"{"error":"device_revoked","error_description":"x"}"#),
            AuthenticatorError::DeviceRevoked
        );
        assert_eq!(err(404, ""), AuthenticatorError::NotFound);
        assert_eq!(
            err(409, r#"{"error":"already_decided"}"#),
            AuthenticatorError::AlreadyDecided
        );
        assert_eq!(
            err(410, r#"{"error":"expired"}"#),
            AuthenticatorError::Expired
        );
        assert_eq!(
            err(
                401,
                r#"{"error":"invalid_dpop_proof","error_description":"stale iat"}"#
            ),
            AuthenticatorError::Server {
                status: 401,
                error: "invalid_dpop_proof".into(),
                description: Some("stale iat".into()),
            }
        );
        assert!(matches!(
            err(502, "<html>\nBad gateway</html>"),
            AuthenticatorError::Server { status: 502, ref error, description: Some(ref d) }
                if error == "unexpected_response" && !d.contains('\n')
        ));
    }
}
