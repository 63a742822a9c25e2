//! The HTTP side of the device protocol: every call carries a fresh DPoP proof, goes through a
//! TLS configuration with the account's pins, and every answer is turned into a result through
//! the mapping in [`super::error`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::{Method, header};
use serde::de::DeserializeOwned;

use super::error::{from_answer, from_transport, signing_error};
use super::issuer::{check_issuer, endpoint};
use super::tls::Trust;
use super::{AuthenticatorConfig, AuthenticatorError, KeyStoreSigner};
use crate::clock::SharedClock;
use crate::jose::dpop_proof;
use crate::jose::software::random_b64u;

/// The largest answer body read from a server; the device API's answers are a few KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bytes of randomness in a DPoP `jti` (128 bits; the protocol asks for ≥ 96).
const JTI_BYTES: usize = 16;

/// A client of the device API of any issuer.
#[derive(Debug, Clone)]
pub(crate) struct DeviceApi {
    config: AuthenticatorConfig,
    trust: Trust,
    /// One HTTP client per pin set (the empty set: no pinning). A client's pooled connections
    /// were all verified with its own pins, so pinned and unpinned traffic never share one.
    clients: Arc<Mutex<HashMap<Vec<String>, reqwest::Client>>>,
    clock: SharedClock,
}

impl DeviceApi {
    /// Builds the trust and the unpinned client now, so a bad configuration fails at start.
    pub(crate) fn new(
        config: &AuthenticatorConfig,
        clock: SharedClock,
    ) -> Result<Self, AuthenticatorError> {
        let api = Self {
            config: config.clone(),
            trust: Trust::new(config, Arc::clone(&clock))?,
            clients: Arc::new(Mutex::new(HashMap::new())),
            clock,
        };
        api.client(&[])?;
        Ok(api)
    }

    /// The client for `pins`: connection reuse, the configured timeout and user agent, and no
    /// redirects (a redirect would change the URL the DPoP proof is bound to, and a device API
    /// never redirects).
    fn client(&self, pins: &[String]) -> Result<reqwest::Client, AuthenticatorError> {
        let mut key: Vec<String> = pins.iter().map(|p| p.trim().to_owned()).collect();
        key.sort();
        key.dedup();
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(self.trust.client_config(&key)?)
            .timeout(self.config.timeout)
            .user_agent(self.config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthenticatorError::Network(format!("cannot build HTTP client: {e}")))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Sends one device-API request with a DPoP proof by `signer`, over TLS pinned to `pins`
    /// (none: system trust only), and returns the body of a 2xx answer; any other answer becomes
    /// the matching [`AuthenticatorError`].
    pub(crate) async fn call(
        &self,
        signer: &KeyStoreSigner,
        issuer: &str,
        pins: &[String],
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, AuthenticatorError> {
        check_issuer(issuer)?;
        let http = self.client(pins)?;
        let url = endpoint(issuer, path);
        let jti = random_b64u(JTI_BYTES)?;
        let proof = dpop_proof(signer, method.as_str(), &url, self.clock.now(), &jti)
            .map_err(|e| signing_error(signer, e))?;

        let mut request = http
            .request(method.clone(), &url)
            .header("DPoP", proof)
            .header(header::ACCEPT, "application/json");
        if let Some(body) = json_body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        tracing::debug!(%method, %url, "device API call");
        let mut response = request.send().await.map_err(|e| from_transport(&e))?;
        let status = response.status();

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| from_transport(&e))? {
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
            Err(from_answer(status, &body))
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
