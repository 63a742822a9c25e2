//! Apple Push Notification service: HTTP/2 `POST {base}/3/device/{token}` with a provider token
//! (an ES256 JWT of the team and key ids, signed with the operator's `.p8` key, renewed after
//! 50 minutes — Apple refuses tokens older than an hour and throttles renewals more often than
//! every 20). One client, hence one pool: every push to a host shares one HTTP/2 connection.

use std::sync::RwLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use ciba_core::clock::SharedClock;
use ciba_core::jose::b64u_encode;
use ciba_core::protocol::PushPayload;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::json;

use super::AuthGate;
use super::error::{PushError, PushSetupError};
use super::http::{build_client, network_error, retry_after};
use crate::config::{ApnsSettings, PushSettings};

/// Provider tokens are renewed after this many seconds.
const PROVIDER_TOKEN_TTL: i64 = 50 * 60;
/// The localisation keys of the generic alert; the app's `Localizable.strings` holds the text.
pub const ALERT_TITLE_LOC_KEY: &str = "CIBA_REQUEST_TITLE";
/// See [`ALERT_TITLE_LOC_KEY`].
pub const ALERT_LOC_KEY: &str = "CIBA_REQUEST_BODY";

/// Sends APNs notifications.
pub struct ApnsClient {
    http: reqwest::Client,
    production_url: String,
    sandbox_url: String,
    topic: String,
    team_id: String,
    key_id: String,
    key: EcdsaKeyPair,
    token: RwLock<Option<(i64, String)>>,
    clock: SharedClock,
    gate: AuthGate,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    reason: Option<String>,
}

impl ApnsClient {
    /// Reads the `.p8` key and builds the client.
    pub fn new(
        apns: &ApnsSettings,
        settings: &PushSettings,
        clock: SharedClock,
    ) -> Result<Self, PushSetupError> {
        let bad = |message: String| PushSetupError::ApnsKey {
            path: apns.key_file.clone(),
            message,
        };
        let pem = std::fs::read(&apns.key_file).map_err(|e| PushSetupError::Read {
            path: apns.key_file.clone(),
            message: e.to_string(),
        })?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| bad(e.to_string()))?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der())
                .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            http: build_client(settings, true)?,
            production_url: apns.production_base_url.trim_end_matches('/').to_owned(),
            sandbox_url: apns.sandbox_base_url.trim_end_matches('/').to_owned(),
            topic: apns.topic.clone(),
            team_id: apns.team_id.clone(),
            key_id: apns.key_id.clone(),
            key,
            token: RwLock::new(None),
            clock,
            gate: AuthGate::default(),
        })
    }

    /// The provider token at `now`: the cached one while younger than 50 minutes.
    fn provider_token(&self, now: i64) -> Result<String, PushError> {
        if let Ok(cached) = self.token.read()
            && let Some((issued, token)) = cached.as_ref()
            && (*issued..*issued + PROVIDER_TOKEN_TTL).contains(&now)
        {
            return Ok(token.clone());
        }
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let claims = json!({"iss": self.team_id, "iat": now});
        let input = format!(
            "{}.{}",
            b64u_encode(header.to_string().as_bytes()),
            b64u_encode(claims.to_string().as_bytes())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| PushError::Auth("ES256 signing with the APNs key failed".into()))?;
        let token = format!("{input}.{}", b64u_encode(signature.as_ref()));
        if let Ok(mut cached) = self.token.write() {
            *cached = Some((now, token.clone()));
        }
        Ok(token)
    }

    fn forget_token(&self) {
        if let Ok(mut cached) = self.token.write() {
            *cached = None;
        }
    }

    /// Sends the wake-up `payload` to the device `token` of the `environment` (`sandbox` or
    /// `production`); APNs keeps it until `expires_at`.
    pub async fn send(
        &self,
        token: &str,
        environment: &str,
        payload: &PushPayload,
        expires_at: i64,
    ) -> Result<(), PushError> {
        let now = self.clock.now();
        self.gate.check(now)?;
        let bearer = self.provider_token(now)?;
        let base = if environment == "sandbox" {
            &self.sandbox_url
        } else {
            &self.production_url
        };
        let url = format!(
            "{base}/3/device/{}",
            utf8_percent_encode(token, NON_ALPHANUMERIC)
        );
        let body = json!({
            "aps": {
                "alert": {"title-loc-key": ALERT_TITLE_LOC_KEY, "loc-key": ALERT_LOC_KEY},
                "sound": "default",
                "mutable-content": 1,
            },
            "ciba": payload,
        });
        let response = self
            .http
            .post(url)
            .header("authorization", format!("bearer {bearer}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", expires_at.to_string())
            .header("apns-collapse-id", &payload.txn)
            .json(&body)
            .send()
            .await
            .map_err(|e| network_error(&e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers(), now);
        let answer = response.bytes().await.map_err(|e| network_error(&e))?;
        if status == 200 {
            return Ok(());
        }
        let reason = serde_json::from_slice::<ErrorBody>(&answer)
            .unwrap_or_default()
            .reason
            .unwrap_or_default();
        let failure = match (status, reason.as_str()) {
            (410, _) | (400, "BadDeviceToken") => PushError::DeadToken { reason },
            (403, _) => {
                self.forget_token();
                PushError::Auth(format!("APNs refused our provider token (403 {reason})"))
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
