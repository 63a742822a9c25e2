//! Users, devices, clients and the ping receiver the load phases use, and the pieces of them
//! the crash harness shares: the admin API, client registration, enrolling a user's device
//! through the real SDK, and OAuth form posts over the lean client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use ciba_core::authenticator::{
    Authenticator, AuthenticatorConfig, MemoryAccountStore, SoftwareKeyStore, Transaction,
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

/// The server the load drives: ciba-server, or one of the peers of `bench/peers/` (their static
/// users and clients, their own approval endpoints instead of an authenticator device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    /// ciba-server: users, devices (the real SDK) and clients set up through the admin API.
    CibaServer,
    /// `bench/peers/node-oidc-provider/server.mjs`: base `http://127.0.0.1:3000`, approval by
    /// `POST /_approve…` on the same port.
    NodeOidcProvider,
    /// Keycloak with `bench/peers/keycloak/`: base `http://127.0.0.1:8180/realms/ciba-bench`,
    /// approval through the authentication channel receiver (`--approve-base`).
    Keycloak,
}

impl Peer {
    /// The backchannel authentication endpoint, under the base.
    pub fn backchannel_path(self) -> &'static str {
        match self {
            Peer::CibaServer => "/backchannel/authenticate",
            Peer::NodeOidcProvider => "/backchannel",
            Peer::Keycloak => "/protocol/openid-connect/ext/ciba/auth",
        }
    }

    /// The token endpoint, under the base.
    pub fn token_path(self) -> &'static str {
        match self {
            Peer::CibaServer | Peer::NodeOidcProvider => "/token",
            Peer::Keycloak => "/protocol/openid-connect/token",
        }
    }
}

/// The peers' static clients (`bench/peers/README.md`).
const PEER_POLL_CLIENT: (&str, &str) = (
    "bench-poll",
    "bench-poll-secret-0123456789abcdef0123456789abcdef",
);
const PEER_PING_CLIENT: (&str, &str) = (
    "bench-ping",
    "bench-ping-secret-0123456789abcdef0123456789abcdef",
);

/// A user whose requests get decided: on ciba-server through their enrolled device (the SDK), on
/// a peer through its approval endpoint.
#[derive(Clone)]
pub struct Decider {
    pub username: String,
    pub sdk: Option<Authenticator>,
}

/// What a decision needs, fetched before it is timed (the device's pending transaction).
pub struct Prepared(Option<Transaction>);

/// Everything the phases share.
pub struct Environment {
    pub base: String,
    pub peer: Peer,
    /// Where a peer's approvals go (node: its own base; Keycloak: the channel receiver).
    pub approve_base: String,
    pub http: reqwest::Client,
    /// The lean client of the measured OAuth calls (plain-HTTP bases).
    pub fast: Option<crate::client::Http>,
    pub poll_client: Client,
    pub ping_client: Client,
    /// Users whose pending lists the throughput phases flood.
    pub flood_users: Vec<String>,
    /// One user per concurrent worker of the decision phases.
    pub deciders: Vec<Decider>,
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
    /// Creates users, devices, a poll client and a ping client pointing at a local receiver
    /// (ciba-server), or takes a peer's static ones. The receiver listens on `ping_listen`
    /// when given (a peer's registered notification endpoint), else on a free loopback port.
    pub async fn create(
        peer: Peer,
        base: &str,
        others: &[String],
        admin_token: &str,
        approve_base: Option<&str>,
        ping_listen: Option<&str>,
        deciders: usize,
    ) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        // Idle connections are dropped before any peer's keep-alive timeout (node: 60 s), so a
        // request never goes out on a connection the peer is closing.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;

        let pings: PingWaiters = Arc::default();
        let listener = tokio::net::TcpListener::bind(ping_listen.unwrap_or("127.0.0.1:0"))
            .await
            .map_err(|e| format!("ping receiver: {e}"))?;
        let receiver = listener.local_addr().map_err(|e| e.to_string())?;
        let app = axum::Router::new()
            .fallback(receive_ping)
            .with_state(pings.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let (poll_client, ping_client, flood_users, users) = if peer == Peer::CibaServer {
            Self::ciba_server_parties(&http, base, admin_token, receiver, deciders).await?
        } else {
            (
                Client::new(PEER_POLL_CLIENT.0, PEER_POLL_CLIENT.1)?,
                Client::new(PEER_PING_CLIENT.0, PEER_PING_CLIENT.1)?,
                (0..64).map(|i| format!("flood-{i}")).collect(),
                (0..deciders)
                    .map(|i| Decider {
                        username: format!("decider-{i}"),
                        sdk: None,
                    })
                    .collect(),
            )
        };
        let approve_base = match (peer, approve_base) {
            (_, Some(b)) => b.trim_end_matches('/').to_owned(),
            (Peer::Keycloak, None) => "http://127.0.0.1:8998".to_owned(),
            _ => base.to_owned(),
        };
        let fast = Http::for_instances(base, others);
        if fast.is_none() && !others.is_empty() {
            return Err("--also needs the base and every instance as http://ip:port URLs".into());
        }
        Ok(Self {
            base: base.to_owned(),
            peer,
            approve_base,
            http,
            fast,
            poll_client,
            ping_client,
            flood_users,
            deciders: users,
            pings,
        })
    }

    async fn ciba_server_parties(
        http: &reqwest::Client,
        base: &str,
        admin_token: &str,
        receiver: std::net::SocketAddr,
        deciders: usize,
    ) -> Result<(Client, Client, Vec<String>, Vec<Decider>), String> {
        let run = ciba_core::jose::software::random_b64u(6).map_err(|e| e.to_string())?;
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
            let user = api
                .enrolled_user(
                    &username,
                    &format!("load device {i}"),
                    AuthenticatorConfig::default(),
                )
                .await?;
            users.push(Decider {
                username: user.username,
                sdk: Some(user.sdk),
            });
        }
        Ok((poll_client, ping_client, flood_users, users))
    }

    /// A backchannel authentication request as `client`.
    pub async fn backchannel(
        &self,
        client: &Client,
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        self.oauth(client, self.peer.backchannel_path(), form).await
    }

    /// A CIBA token request as `client`.
    pub async fn token(&self, client: &Client, auth_req_id: &str) -> Result<(u16, Value), String> {
        self.oauth(
            client,
            self.peer.token_path(),
            &[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", auth_req_id),
            ],
        )
        .await
    }

    /// Approves every undecided request of `user` (their device's pending list, or the peer's
    /// approval by `login_hint`); returns how many.
    pub async fn approve_all(&self, user: &Decider) -> Result<usize, String> {
        if let Some(sdk) = &user.sdk {
            let pending = sdk.pending().await.map_err(|e| e.to_string())?;
            for txn in &pending {
                sdk.approve(txn, vec!["swk".into()])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            return Ok(pending.len());
        }
        let login_hint: String =
            form_urlencoded::byte_serialize(user.username.as_bytes()).collect();
        let request = match self.peer {
            Peer::Keycloak => self.http.post(format!(
                "{}/_approve?login_hint={login_hint}",
                self.approve_base
            )),
            _ => self
                .http
                .post(format!("{}/_approve", self.approve_base))
                .json(&json!({"login_hint": user.username})),
        };
        let answer = self.peer_call(request).await?;
        Ok(answer["approved"].as_u64().unwrap_or(0) as usize)
    }

    /// What deciding `user`'s one undecided request needs, before the decision is timed.
    pub async fn prepare(&self, user: &Decider) -> Result<Prepared, String> {
        match &user.sdk {
            Some(sdk) => {
                let txn = sdk
                    .pending()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .next()
                    .ok_or("no transaction")?;
                Ok(Prepared(Some(txn)))
            }
            None => Ok(Prepared(None)),
        }
    }

    /// Approves the request `auth_req_id` of `user` (prepared by [`Environment::prepare`]).
    pub async fn approve_one(
        &self,
        user: &Decider,
        auth_req_id: &str,
        prepared: Prepared,
    ) -> Result<(), String> {
        match (&user.sdk, prepared.0) {
            (Some(sdk), Some(txn)) => {
                return sdk
                    .approve(&txn, vec!["swk".into()])
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
            }
            (Some(_), None) => return Err(format!("{}: no transaction prepared", user.username)),
            (None, _) => {}
        }
        match self.peer {
            // The channel receiver knows requests by user (it never sees the auth_req_id).
            Peer::Keycloak => {
                let answer = self.approve_all(user).await?;
                if answer == 1 {
                    Ok(())
                } else {
                    Err(format!("{} requests of {} approved", answer, user.username))
                }
            }
            _ => {
                let id: String = form_urlencoded::byte_serialize(auth_req_id.as_bytes()).collect();
                let request = self
                    .http
                    .post(format!("{}/_approve/{id}", self.approve_base));
                self.peer_call(request).await.map(|_| ())
            }
        }
    }

    /// Sends a peer's approval call. A request that never reached the peer (no connection, or
    /// a pooled keep-alive connection the peer closed just before it) is sent once more: the
    /// peer cannot have acted on it. Errors carry their causes (a 25-minute comparison once
    /// stopped on a bare "error sending request").
    async fn peer_call(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let retry = request.try_clone();
        let resp = match (request.send().await, retry) {
            (Ok(resp), _) => resp,
            (Err(e), Some(retry)) if never_sent(&e) => retry.send().await.map_err(|e| chain(&e))?,
            (Err(e), _) => return Err(chain(&e)),
        };
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("approval: {status} {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
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

/// Whether `e` means the request was not delivered: no connection, or one the peer had closed
/// (hyper's "connection closed before message completed" on a reused connection).
fn never_sent(e: &reqwest::Error) -> bool {
    e.is_connect() || chain(e).contains("connection closed before message completed")
}

/// An error with its causes, outermost first.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
