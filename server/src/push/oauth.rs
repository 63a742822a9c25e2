//! OAuth 2.0 access tokens for a Google service account: the JWT-bearer grant (RFC 7523), an
//! RS256 assertion signed with the account's key on aws-lc-rs, posted to the key file's
//! `token_uri`. Tokens are cached by the injected clock and fetched again a minute before they
//! expire; concurrent sends share one fetch.
//!
//! Not `gcp_auth`: it signs with `ring` and brings its own hyper/rustls stack (a second crypto
//! provider in the server), trusts only the system roots, and reads expiry from the system
//! clock, so neither a test CA nor a moved test clock would reach it.

use std::path::Path;
use std::sync::RwLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use ciba_core::jose::b64u_encode;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::json;

use super::error::{PushError, PushSetupError};
use super::http::{network_error, retry_after};

/// The scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The JWT-bearer grant type (RFC 7523 §2.1).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Assertions live an hour, Google's maximum.
const ASSERTION_TTL: i64 = 3600;
/// Tokens are replaced this long before they expire.
const REFRESH_MARGIN: i64 = 60;

/// The fields of a service-account key file that matter here.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: String,
}

/// A service account that can sign its own assertions.
pub struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a service-account JSON key file.
    pub fn from_file(path: &Path) -> Result<Self, PushSetupError> {
        let text = std::fs::read_to_string(path).map_err(|e| PushSetupError::Read {
            path: path.into(),
            message: e.to_string(),
        })?;
        let bad = |message: String| PushSetupError::ServiceAccount {
            path: path.into(),
            message,
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(bad(format!(
                "type is {:?}, not service_account",
                file.kind.unwrap_or_default()
            )));
        }
        let token_uri =
            url::Url::parse(&file.token_uri).map_err(|e| bad(format!("token_uri: {e}")))?;
        if !matches!(token_uri.scheme(), "https" | "http") {
            return Err(bad("token_uri must be an https URL".into()));
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.as_bytes())
            .map_err(|e| bad(format!("private_key: {e}")))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| bad(format!("private_key: {e}")))?;
        Ok(Self {
            client_email: file.client_email,
            key_id: file.private_key_id,
            token_uri: file.token_uri,
            key,
        })
    }

    /// The account's e-mail (the assertion's issuer).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// A signed RS256 assertion for `scope`, issued at `now`.
    pub fn assertion(&self, scope: &str, now: i64) -> Result<String, PushError> {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email, "scope": scope, "aud": self.token_uri,
            "iat": now, "exp": now + ASSERTION_TTL,
        });
        let input = format!(
            "{}.{}",
            b64u_encode(header.to_string().as_bytes()),
            b64u_encode(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                PushError::Auth("RS256 signing with the service-account key failed".into())
            })?;
        Ok(format!("{input}.{}", b64u_encode(&signature)))
    }
}

#[derive(Clone)]
struct AccessToken {
    value: String,
    refresh_at: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Access tokens for one service account and scope.
pub struct TokenSource {
    account: ServiceAccount,
    scope: &'static str,
    http: reqwest::Client,
    cached: RwLock<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<()>,
}

impl TokenSource {
    /// A token source posting to the account's `token_uri` with `http`.
    pub fn new(account: ServiceAccount, scope: &'static str, http: reqwest::Client) -> Self {
        Self {
            account,
            scope,
            http,
            cached: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, now: i64) -> Option<String> {
        let cached = self.cached.read().ok()?;
        cached
            .as_ref()
            .filter(|t| now < t.refresh_at)
            .map(|t| t.value.clone())
    }

    /// A valid access token at `now`: the cached one, or a fresh one.
    pub async fn token(&self, now: i64) -> Result<String, PushError> {
        if let Some(token) = self.cached(now) {
            return Ok(token);
        }
        // One fetch at a time: the others wait for it and take its token.
        let _fetching = self.refresh.lock().await;
        if let Some(token) = self.cached(now) {
            return Ok(token);
        }
        let fresh = self.fetch(now).await?;
        let value = fresh.value.clone();
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some(fresh);
        }
        Ok(value)
    }

    /// Drops the cached token (the provider refused it).
    pub fn forget(&self) {
        if let Ok(mut cached) = self.cached.write() {
            *cached = None;
        }
    }

    async fn fetch(&self, now: i64) -> Result<AccessToken, PushError> {
        let assertion = self.account.assertion(self.scope, now)?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| network_error(&e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers(), now);
        let body = response.bytes().await.map_err(|e| network_error(&e))?;
        match status {
            200..=299 => {
                let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                    PushError::Network(format!("unreadable token endpoint answer: {e}"))
                })?;
                let lifetime = answer.expires_in.unwrap_or(3600).max(0);
                tracing::debug!(account = %self.account.client_email, lifetime, "fetched an FCM access token");
                Ok(AccessToken {
                    value: answer.access_token,
                    refresh_at: now + (lifetime - REFRESH_MARGIN).max(lifetime / 2),
                })
            }
            429 => Err(PushError::Throttled {
                reason: "the token endpoint throttled us".into(),
                retry_after: wait,
            }),
            500..=599 => Err(PushError::Unavailable {
                status,
                retry_after: wait,
            }),
            _ => {
                let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
                Err(PushError::Auth(format!(
                    "the token endpoint refused the service account {} ({status} {}: {})",
                    self.account.client_email,
                    error.error.unwrap_or_default(),
                    error.error_description.unwrap_or_default()
                )))
            }
        }
    }
}
