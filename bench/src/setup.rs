//! Users, devices, clients and the ping receiver the load phases use, and the pieces of them
//! the crash harness shares: the admin API, client registration, enrolling a user's device
//! through the real SDK, and OAuth form posts over the lean client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use ciba_core::authenticator::{
    Authenticator, AuthenticatorConfig, MemoryAccountStore, SoftwareKeyStore,
};
use ciba_core::clock::SystemClock;
use ciba_core::protocol::{DeviceInfo, Platform, PushRegistration};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::client::Http;

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
    /// `Basic` credentials (RFC 6749 §2.3.1: form-encoded, then base64), computed once.
    pub authorization: HeaderValue,
}

impl Client {
    /// A client with these credentials.
    pub fn new(id: &str, secret: &str) -> Result<Self, String> {
        use base64::Engine;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(id),
            encode(secret)
        ));
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
            authorization: HeaderValue::from_str(&format!("Basic {credentials}"))
                .map_err(|e| e.to_string())?,
        })
    }

    /// The client of an admin API registration answer (`client_id`, `client_secret`).
    pub fn from_registration(registration: &Value) -> Result<Self, String> {
        Self::new(
            registration["client_id"].as_str().unwrap_or_default(),
            registration["client_secret"].as_str().unwrap_or_default(),
        )
    }
}

/// A user with an enrolled device.
#[derive(Clone)]
pub struct User {
    pub username: String,
    pub sdk: Authenticator,
}

/// Waiters for pings, by `auth_req_id`.
pub type PingWaiters = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// Everything the phases share.
pub struct Environment {
    pub base: String,
    pub http: reqwest::Client,
    /// The lean client of the measured OAuth calls (plain-HTTP bases).
    pub fast: Option<crate::client::Http>,
    pub poll_client: Client,
    pub ping_client: Client,
    /// Users whose pending lists the throughput phases flood.
    pub flood_users: Vec<String>,
    /// One user per concurrent worker of the decision phases.
    pub deciders: Vec<User>,
    pub pings: PingWaiters,
}

/// Where the admin API is and its token.
#[derive(Debug, Clone)]
pub struct AdminApi {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl AdminApi {
    /// POSTs to the admin API (a JSON body, or none); returns the JSON answer of a 2xx.
    pub async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, String> {
        admin(&self.http, &self.base, &self.token, path, body).await
    }

    /// Registers a client (`/admin/v1/clients`).
    pub async fn client(&self, registration: Value) -> Result<Client, String> {
        Client::from_registration(&self.post("/admin/v1/clients", Some(registration)).await?)
    }

    /// Creates a user and enrolls one device for them through the SDK.
    pub async fn enrolled_user(
        &self,
        username: &str,
        device_name: &str,
        config: AuthenticatorConfig,
    ) -> Result<User, String> {
        let user = self
            .post("/admin/v1/users", Some(json!({"username": username})))
            .await?;
        let id = user["id"].as_str().unwrap_or_default();
        let enrollment = self
            .post(&format!("/admin/v1/users/{id}/enrollments"), None)
            .await?;
        let sdk = Authenticator::new(
            Arc::new(MemoryAccountStore::new()),
            Arc::new(SoftwareKeyStore::in_memory()),
            Arc::new(SystemClock),
            config,
        )
        .map_err(|e| e.to_string())?;
        let device = DeviceInfo {
            display_name: device_name.to_owned(),
            platform: Platform::Other,
            model: None,
            os_version: None,
            app_version: None,
            sdk_version: None,
        };
        sdk.enroll(
            enrollment["uri"].as_str().unwrap_or_default(),
            device,
            PushRegistration::none(),
        )
        .await
        .map_err(|e| format!("enroll: {e}"))?;
        Ok(User {
            username: username.to_owned(),
            sdk,
        })
    }
}

async fn admin(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = http.post(format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {body}"));
    }
    Ok(body)
}

async fn receive_ping(State(waiters): State<PingWaiters>, body: Bytes) -> axum::http::StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(id) = body.get("auth_req_id").and_then(Value::as_str)
        && let Ok(mut map) = waiters.lock()
        && let Some(tx) = map.remove(id)
    {
        let _ = tx.send(());
    }
    axum::http::StatusCode::NO_CONTENT
}

impl Environment {
    /// Creates users, devices, a poll client and a ping client pointing at a local receiver.
    pub async fn create(base: &str, admin_token: &str, deciders: usize) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| e.to_string())?;
        let run = ciba_core::jose::software::random_b64u(6).map_err(|e| e.to_string())?;

        let pings: PingWaiters = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let receiver = listener.local_addr().map_err(|e| e.to_string())?;
        let app = axum::Router::new()
            .fallback(receive_ping)
            .with_state(pings.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let api = AdminApi {
            http: http.clone(),
            base: base.to_owned(),
            token: admin_token.to_owned(),
        };
        let poll_client = api
            .client(json!({"name": "Load Poll", "backchannel_token_delivery_mode": "poll"}))
            .await?;
        let ping_client = api
            .client(json!({"name": "Load Ping", "backchannel_token_delivery_mode": "ping",
                           "backchannel_client_notification_endpoint": format!("http://{receiver}/ping")}))
            .await?;

        let mut flood_users = Vec::new();
        for i in 0..64 {
            let username = format!("flood-{run}-{i}");
            api.post("/admin/v1/users", Some(json!({"username": username})))
                .await?;
            flood_users.push(username);
        }
        let mut users = Vec::new();
        for i in 0..deciders {
            let username = format!("decider-{run}-{i}");
            users.push(
                api.enrolled_user(
                    &username,
                    &format!("load device {i}"),
                    AuthenticatorConfig::default(),
                )
                .await?,
            );
        }
        Ok(Self {
            base: base.to_owned(),
            http,
            fast: Http::for_base(base),
            poll_client,
            ping_client,
            flood_users,
            deciders: users,
            pings,
        })
    }

    /// POSTs a form to an OAuth endpoint as `client`; returns the status and JSON body.
    pub async fn oauth(
        &self,
        client: &Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        if let Some(fast) = &self.fast {
            return oauth_post(fast, client, path, form).await;
        }
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

/// POSTs a form to an OAuth endpoint as `client` over the lean client; returns the status and
/// JSON body.
pub async fn oauth_post(
    fast: &Http,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let (status, body) = fast.post_form(path, &client.authorization, body).await?;
    let body = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok((status, body))
}
