//! The HTTP client of ping and push callbacks: rustls on the server's one crypto provider
//! (aws-lc-rs), TLS 1.2+ (1.3 preferred), system trust plus operator-given roots, bounded
//! timeouts, no redirects, no proxy, and a resolver that only ever connects to allowed addresses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::endpoint::{EndpointError, check_endpoint_url, filter_addresses};
use crate::config::NotificationSettings;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx.
    Delivered,
    /// Worth trying again later: network error, timeout, 408, 429, 5xx.
    Retry(String),
    /// Not worth trying again: 401/403 and other 4xx, a redirect, a refused address.
    Refused(String),
}

/// Sends notifications.
#[derive(Clone)]
pub struct NotificationClient {
    http: reqwest::Client,
    settings: Arc<NotificationSettings>,
}

/// Resolves with the system resolver, then drops every address the policy refuses, so the
/// connection can only go to an address that was checked (no DNS-rebinding window).
struct GuardedResolver {
    settings: Arc<NotificationSettings>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let settings = self.settings.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = filter_addresses(found, &settings)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl NotificationClient {
    /// Builds the client; fails on unreadable extra root certificates.
    pub fn new(settings: &NotificationSettings) -> Result<Self, String> {
        let tls = crate::tls::client_config(&settings.extra_root_certificates, &[])?;
        let shared = Arc::new(settings.clone());
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // Never through a proxy from the environment (HTTPS_PROXY, …): a proxy resolves and
            // connects itself, so the guarded resolver below would never run.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.timeout_ms))
            .dns_resolver(Arc::new(GuardedResolver {
                settings: shared.clone(),
            }))
            .user_agent(concat!("ciba-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            settings: shared,
        })
    }

    /// POSTs `body` as JSON with `Authorization: Bearer <bearer>`.
    pub async fn send(
        &self,
        endpoint: &str,
        bearer: &str,
        body: &serde_json::Value,
    ) -> SendOutcome {
        if let Err(e) = check_endpoint_url(endpoint, &self.settings) {
            return SendOutcome::Refused(e.to_string());
        }
        let sent = self
            .http
            .post(endpoint)
            .bearer_auth(bearer)
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return classify_error(&e),
        };
        let status = response.status();
        // Drain a little of the body so the connection can be reused, but never wait long on it.
        let _ = tokio::time::timeout(Duration::from_millis(200), response.bytes()).await;
        match status.as_u16() {
            200..=299 => SendOutcome::Delivered,
            401 | 403 => {
                SendOutcome::Refused(format!("the endpoint refused our credentials ({status})"))
            }
            300..=399 => SendOutcome::Refused(format!(
                "the endpoint redirected ({status}); redirects are not followed"
            )),
            408 | 425 | 429 | 500..=599 => {
                SendOutcome::Retry(format!("the endpoint answered {status}"))
            }
            _ => SendOutcome::Refused(format!("the endpoint answered {status}")),
        }
    }
}

impl NotificationClient {
    /// GETs `url` (a client's `jwks_uri`) under the same rules as notifications: the address
    /// policy, no redirects, bounded timeouts; a 200 answer of at most `max_bytes`.
    pub async fn fetch(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
        check_endpoint_url(url, &self.settings).map_err(|e| e.to_string())?;
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| match classify_error(&e) {
                SendOutcome::Retry(why) | SendOutcome::Refused(why) => why,
                SendOutcome::Delivered => e.to_string(),
            })?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("{url} answered {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > max_bytes {
                return Err(format!("{url} answered more than {max_bytes} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn classify_error(error: &reqwest::Error) -> SendOutcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<EndpointError>() {
            return match refused {
                EndpointError::Unresolvable => SendOutcome::Retry(refused.to_string()),
                _ => SendOutcome::Refused(refused.to_string()),
            };
        }
        source = e.source();
    }
    SendOutcome::Retry(crate::outbox::describe_transport_error(error))
}
