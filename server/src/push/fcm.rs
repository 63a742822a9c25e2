//! Firebase Cloud Messaging, HTTP v1 API: `POST {base}/v1/projects/{project}/messages:send`
//! with a service-account access token; a data message (the wake-up payload), Android priority
//! HIGH, and a TTL of the time left on the request.

use ciba_core::clock::SharedClock;
use ciba_core::protocol::PushPayload;
use serde::Deserialize;
use serde_json::json;

use super::AuthGate;
use super::error::{PushError, PushSetupError};
use super::http::{build_client, network_error, retry_after};
use super::oauth::{FCM_SCOPE, ServiceAccount, TokenSource};
use crate::config::{FcmSettings, PushSettings};

/// Sends FCM messages over one connection pool.
pub struct FcmClient {
    http: reqwest::Client,
    send_url: String,
    tokens: TokenSource,
    clock: SharedClock,
    gate: AuthGate,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    error: Option<ErrorStatus>,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    status: Option<String>,
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

impl FcmClient {
    /// Reads the service account and builds the client.
    pub fn new(
        fcm: &FcmSettings,
        settings: &PushSettings,
        clock: SharedClock,
    ) -> Result<Self, PushSetupError> {
        let account = ServiceAccount::from_file(&fcm.service_account_file)?;
        let http = build_client(settings, false)?;
        Ok(Self {
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                fcm.base_url.trim_end_matches('/'),
                fcm.project_id
            ),
            tokens: TokenSource::new(account, FCM_SCOPE, http.clone()),
            http,
            clock,
            gate: AuthGate::default(),
        })
    }

    /// Sends the wake-up `payload` to the registration `token`; the message lives until
    /// `expires_at`.
    pub async fn send(
        &self,
        token: &str,
        payload: &PushPayload,
        expires_at: i64,
    ) -> Result<(), PushError> {
        let now = self.clock.now();
        self.gate.check(now)?;
        let bearer = self
            .tokens
            .token(now)
            .await
            .map_err(|e| self.gate.observe(now, e))?;
        let message = json!({"message": {
            "token": token,
            "data": payload,
            "android": {"priority": "HIGH", "ttl": format!("{}s", (expires_at - now).max(0))},
        }});
        let response = self
            .http
            .post(&self.send_url)
            .bearer_auth(bearer)
            .json(&message)
            .send()
            .await
            .map_err(|e| network_error(&e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers(), now);
        let body = response.bytes().await.map_err(|e| network_error(&e))?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .unwrap_or_default()
            .error
            .unwrap_or_default();
        let code = error
            .details
            .iter()
            .find_map(|d| d.error_code.clone())
            .or(error.status)
            .unwrap_or_default();
        let reason = format!("{code}: {}", error.message.unwrap_or_default());
        let failure = match (status, code.as_str()) {
            // Only FCM's own verdict on the token: a bare 404 (a wrong base URL or project) must
            // not invalidate every device's token.
            (_, "UNREGISTERED") | (404, "NOT_FOUND") => PushError::DeadToken { reason },
            (401, _) | (403, "PERMISSION_DENIED") => {
                self.tokens.forget();
                PushError::Auth(format!("FCM refused our access token ({status} {reason})"))
            }
            (429, _) => PushError::Throttled {
                reason,
                retry_after: wait,
            },
            (500..=599, _) => PushError::Unavailable {
                status,
                retry_after: wait,
            },
            _ => PushError::Rejected { status, reason },
        };
        Err(self.gate.observe(now, failure))
    }
}
