//! Harness of the end-to-end tests: the real server on an ephemeral port with a SQLite file on
//! disk and an injected clock, driven over HTTP by a client and by the real authenticator SDK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ciba_core::authenticator::{
    Account, Authenticator, AuthenticatorConfig, MemoryAccountStore, SoftwareKeyStore,
};
use ciba_core::clock::{Clock, ManualClock, SystemClock};
use ciba_core::protocol::{DeviceInfo, Platform, PushRegistration};
use ciba_server::AppState;
use ciba_server::config::Settings;
use ciba_server::store::Store;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod answer;
pub mod ca;
pub mod eventually;
pub mod mock_push;
pub mod process;

pub use answer::json_answer;
pub use ca::{ClientCert, TestCa};
pub use eventually::{eventually, eventually_within};
pub use process::{
    KillOnDrop, authenticator_binary, free_loopback_addr, server_binary, wait_until_ready,
};

/// The admin token of test servers.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running server.
pub struct TestServer {
    /// The issuer (shared by every instance on one database).
    pub issuer: String,
    /// The clock the server reads; tests move it (shared by every instance).
    pub clock: ManualClock,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// This instance's own base URL (the issuer, for the first instance).
    pub base: String,
    addr: SocketAddr,
    database_url: String,
    settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    store: Option<Arc<dyn Store>>,
    state: Option<AppState>,
    /// The background workers are not running: the test drives their rounds.
    manual_workers: bool,
    _dir: Arc<tempfile::TempDir>,
}

/// The test database backend: PostgreSQL when `CIBA_TEST_POSTGRES_URL` names a server (each
/// test server gets a fresh database on it), SQLite files otherwise.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("CIBA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// For a test that only means something on PostgreSQL: false, with a note saying so, in the
/// SQLite pass (the PostgreSQL pass sets `CIBA_TEST_POSTGRES_URL`).
pub fn postgres_pass(test: &str) -> bool {
    let on_postgres = postgres_base_url().is_some();
    if !on_postgres {
        eprintln!("{test} runs in the PostgreSQL pass (CIBA_TEST_POSTGRES_URL)");
    }
    on_postgres
}

/// A fresh database URL for one test server: a new database on the PostgreSQL server `postgres`
/// names, or a SQLite file in `dir`.
async fn fresh_database(dir: &std::path::Path, postgres: Option<String>) -> String {
    match postgres {
        None => format!("sqlite://{}", dir.join("ciba.db").display()),
        Some(base) => {
            use sqlx::Connection;
            let name = format!(
                "ciba_test_{}",
                ciba_core::jose::software::random_b64u(12)
                    .unwrap()
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            let mut admin = sqlx::PgConnection::connect(&base)
                .await
                .expect("CIBA_TEST_POSTGRES_URL answers");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
            let mut url = url::Url::parse(&base).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

impl TestServer {
    /// Starts a server with a fresh database; the clock starts at the real time (so token
    /// libraries that check `exp` against the system clock agree).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `tweak` adjusts its settings.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(postgres_base_url(), tweak).await
    }

    /// Starts a server on a fresh database of the PostgreSQL server `postgres` names (SQLite when
    /// `None`).
    pub async fn start_on(postgres: Option<String>, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_as(postgres, false, tweak).await
    }

    /// Starts a server without its background workers (sweeper, client notifications, device
    /// wake-ups): the test runs their rounds with [`TestServer::work_client_notifications`] and
    /// [`TestServer::work_device_wakeups`], step by step on the manual clock, instead of waiting.
    pub async fn start_manual(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_as(postgres_base_url(), true, tweak).await
    }

    async fn start_as(
        postgres: Option<String>,
        manual_workers: bool,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let database_url = fresh_database(dir.path(), postgres).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = Settings {
            listen: addr,
            issuer: Some(format!("http://{addr}")),
            database_url: database_url.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        tweak(&mut settings);
        let mut server = Self {
            issuer: settings.issuer(),
            clock: ManualClock::new(SystemClock.now()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            addr,
            database_url,
            settings,
            stop: None,
            task: None,
            store: None,
            state: None,
            manual_workers,
            _dir: dir,
        };
        server.launch(listener).await;
        server
    }

    /// Another instance on the same database, with the same issuer, settings and clock: what a
    /// load balancer spreads requests over.
    pub async fn another_instance(&self) -> Self {
        self.instance_with(self.manual_workers).await
    }

    /// Another instance like [`TestServer::another_instance`], running its background workers
    /// even when this one was started without them.
    pub async fn another_instance_with_workers(&self) -> Self {
        self.instance_with(false).await
    }

    async fn instance_with(&self, manual_workers: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = self.settings.clone();
        settings.listen = addr;
        let mut server = Self {
            issuer: self.issuer.clone(),
            clock: self.clock.clone(),
            http: self.http.clone(),
            base: format!("http://{addr}"),
            addr,
            database_url: self.database_url.clone(),
            settings,
            stop: None,
            task: None,
            store: None,
            state: None,
            manual_workers,
            _dir: self._dir.clone(),
        };
        server.launch(listener).await;
        server
    }

    async fn launch(&mut self, listener: tokio::net::TcpListener) {
        let store = ciba_server::store::open(&self.database_url, 8)
            .await
            .unwrap();
        let state = AppState::new(
            self.settings.clone(),
            store.clone(),
            Arc::new(self.clock.clone()),
        )
        .unwrap();
        state.initialize().await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let manual = self.manual_workers;
        let serving = state.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if manual {
                ciba_server::serve_http(listener, serving, shutdown).await
            } else {
                ciba_server::serve(listener, serving, shutdown).await
            }
            .unwrap();
        });
        self.stop = Some(tx);
        self.task = Some(task);
        self.store = Some(store);
        self.state = Some(state);
    }

    /// One round of the client-notification worker at the clock's time (servers started with
    /// [`TestServer::start_manual`]); returns how many notifications it attempted.
    pub async fn work_client_notifications(&self) -> usize {
        assert!(self.manual_workers, "the background worker is running");
        ciba_server::delivery::client_notifications::work_once(self.state.as_ref().unwrap()).await
    }

    /// One round of the device wake-up worker at the clock's time (servers started with
    /// [`TestServer::start_manual`]); returns how many wake-ups it attempted.
    pub async fn work_device_wakeups(&self) -> usize {
        assert!(self.manual_workers, "the background worker is running");
        ciba_server::delivery::device_wakeups::work_once(self.state.as_ref().unwrap()).await
    }

    /// Stops the server (graceful shutdown, database closed) and starts a new one on the same
    /// port and database: nothing survives but what is in the database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.launch(listener).await;
    }

    /// Stops this instance (graceful shutdown, database connections closed).
    pub async fn stop(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap();
        self.state.take();
        self.store.take().unwrap().close().await;
    }

    /// Kills this instance at once: its tasks (HTTP, notification worker) are dropped mid-work,
    /// as when a process dies.
    pub fn kill(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.state.take();
        self.store.take();
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Signs in to the console with the admin token: the session cookie (`name=value`), its
    /// CSRF token and the whole `Set-Cookie` header.
    pub async fn console_session(&self) -> (String, String, String) {
        let answer = self
            .http
            .post(self.url("/console/session"))
            .json(&json!({"admin_token": ADMIN_TOKEN}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
        let body: Value = answer.json().await.unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        (
            cookie,
            body["csrf_token"].as_str().unwrap().to_owned(),
            set_cookie,
        )
    }

    /// The audit events of a user, oldest first (the admin API).
    pub async fn audit_events(&self, user_id: &str) -> Vec<Value> {
        let (status, audit) = self
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/audit?user_id={user_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        audit["events"].as_array().unwrap().clone()
    }

    /// Runs one SQL statement with text parameters (`$1`, `$2`, …) on this instance's database,
    /// behind the server's back: for tests that set up a state no API call can make.
    pub async fn execute_sql(&self, sql: &str, binds: &[&str]) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.database_url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(*b);
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(*b);
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// The database this instance runs on (`sqlite://…` or `postgres://…`).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Talks to this instance over TLS (its `[tls]` listener): `https://localhost:<port>` with
    /// `http`.
    pub fn use_tls(&mut self, http: reqwest::Client) {
        self.base = format!("https://localhost:{}", self.addr.port());
        self.http = http;
    }

    /// This instance's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An admin API call; returns status and JSON body (Null when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        json_answer(req.send().await.unwrap()).await
    }

    /// Creates a user; returns its JSON.
    /// `GET path` (no credentials), asserting a 2xx JSON answer: discovery, the JWKS.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn create_user(&self, username: &str) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/v1/users",
                Some(json!({"username": username, "display_name": format!("{username} Example")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Registers a poll client; returns (client_id, client_secret).
    pub async fn create_client(&self, extra: Value) -> TestClient {
        let mut body = json!({"name": "Customer Service Console", "backchannel_token_delivery_mode": "poll",
                              "scope": "openid profile accounts payments"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, body) = self
            .admin(reqwest::Method::POST, "/admin/v1/clients", Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
        TestClient {
            id: body["client_id"].as_str().unwrap().into(),
            secret: body["client_secret"].as_str().unwrap().into(),
            post: body["token_endpoint_auth_method"] == "client_secret_post",
        }
    }

    /// A fresh enrollment URI for a user.
    pub async fn enrollment_uri(&self, user_id: &str) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/users/{user_id}/enrollments"),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["uri"].as_str().unwrap().into()
    }

    /// A new SDK instance (fresh in-memory stores) on the server's clock.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator_with(AuthenticatorConfig::default())
    }

    /// [`TestServer::authenticator`] with `config`.
    pub fn authenticator_with(&self, config: AuthenticatorConfig) -> Authenticator {
        Authenticator::new(
            Arc::new(MemoryAccountStore::new()),
            Arc::new(SoftwareKeyStore::in_memory()),
            Arc::new(self.clock.clone()),
            config,
        )
        .unwrap()
    }

    /// A user with one enrolled SDK device.
    pub async fn user_with_device(&self, username: &str) -> (Value, Authenticator, Account) {
        self.user_with_push_device(username, PushRegistration::none())
            .await
    }

    /// A user with one enrolled SDK device registered for `push`.
    pub async fn user_with_push_device(
        &self,
        username: &str,
        push: PushRegistration,
    ) -> (Value, Authenticator, Account) {
        let user = self.create_user(username).await;
        let (sdk, account) = self.enroll_device(user["id"].as_str().unwrap(), push).await;
        (user, sdk, account)
    }

    /// Enrolls one more SDK device for a user, registered for `push`.
    pub async fn enroll_device(
        &self,
        user_id: &str,
        push: PushRegistration,
    ) -> (Authenticator, Account) {
        let sdk = self.authenticator();
        let uri = self.enrollment_uri(user_id).await;
        let account = sdk.enroll(&uri, device_info(), push).await.unwrap();
        (sdk, account)
    }

    /// The store of this instance (to look at what the server recorded).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone().unwrap()
    }

    /// POSTs a form to an OAuth endpoint with the client's authentication.
    pub async fn oauth_post(
        &self,
        path: &str,
        client: &TestClient,
        params: &[(&str, &str)],
    ) -> OAuthAnswer {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut req = self.http.post(self.url(path));
        if client.post {
            form.push(("client_id".into(), client.id.clone()));
            form.push(("client_secret".into(), client.secret.clone()));
        } else {
            req = req.basic_auth(&client.id, Some(&client.secret));
        }
        OAuthAnswer::from(req.form(&form).send().await.unwrap()).await
    }

    /// A backchannel authentication request.
    pub async fn backchannel(&self, client: &TestClient, params: &[(&str, &str)]) -> OAuthAnswer {
        self.oauth_post("/backchannel/authenticate", client, params)
            .await
    }

    /// A backchannel request that must succeed; returns the `auth_req_id`.
    pub async fn start_ciba(&self, client: &TestClient, login_hint: &str) -> String {
        let answer = self
            .backchannel(
                client,
                &[
                    ("scope", "openid accounts"),
                    ("login_hint", login_hint),
                    ("binding_message", "W4-7QX"),
                ],
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["auth_req_id"].as_str().unwrap().into()
    }

    /// A token request with the CIBA grant.
    pub async fn poll(&self, client: &TestClient, auth_req_id: &str) -> OAuthAnswer {
        self.oauth_post(
            "/token",
            client,
            &[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", auth_req_id),
            ],
        )
        .await
    }
}

/// The device info the tests enroll with.
pub fn device_info() -> DeviceInfo {
    DeviceInfo {
        display_name: "Test Phone".into(),
        platform: Platform::Other,
        model: Some("e2e".into()),
        os_version: None,
        app_version: None,
        sdk_version: Some(ciba_core::authenticator::SDK_VERSION.into()),
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct TestClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
    /// Authenticates with `client_secret_post` instead of Basic.
    pub post: bool,
}

/// An OAuth endpoint's answer.
#[derive(Debug)]
pub struct OAuthAnswer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl OAuthAnswer {
    pub async fn from(resp: reqwest::Response) -> Self {
        let headers = resp.headers().clone();
        let (status, body) = json_answer(resp).await;
        // Every OAuth answer has a body.
        assert!(!body.is_null(), "an empty {status} answer");
        Self {
            status,
            body,
            headers,
        }
    }

    /// The `error` code, asserting a 400.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.body))
    }
}

/// A DPoP proof by an account's key for `method path` at the server clock's time.
pub fn proof(
    server: &TestServer,
    sdk: &Authenticator,
    account: &Account,
    method: &str,
    path: &str,
) -> String {
    let signer = sdk.signer(&account.id).unwrap();
    let jti = ciba_core::jose::software::random_b64u(16).unwrap();
    ciba_core::jose::dpop_proof(
        &signer,
        method,
        &format!("{}{path}", server.issuer),
        server.clock.now(),
        &jti,
    )
    .unwrap()
}

/// A raw device API call with a given DPoP proof; returns status and JSON body.
pub async fn device_call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    dpop: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .http
        .request(method, server.url(path))
        .header("DPoP", dpop);
    if let Some(b) = body {
        req = req.json(&b);
    }
    json_answer(req.send().await.unwrap()).await
}

/// Posts a decision JWS for `txn_id` as `account`'s device.
pub async fn post_decision(
    server: &TestServer,
    sdk: &Authenticator,
    account: &Account,
    txn_id: &str,
    jws: &str,
) -> (u16, Value) {
    let path = format!("/device/v1/transactions/{txn_id}/decision");
    let dpop = proof(server, sdk, account, "POST", &path);
    device_call(
        server,
        reqwest::Method::POST,
        &path,
        &dpop,
        Some(json!({ "decision": jws })),
    )
    .await
}

impl TestServer {
    /// The address the server listens on (plain HTTP), whatever its issuer says.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new SDK instance on the server's clock with `config`, whose stores the test can reach:
    /// keys in a directory on disk (so a test can copy or delete them behind the SDK's back).
    pub fn sdk_with(&self, config: AuthenticatorConfig) -> TestSdk {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(SoftwareKeyStore::open(dir.path().join("keys")).unwrap());
        let accounts = Arc::new(MemoryAccountStore::new());
        let sdk = Authenticator::new(
            accounts.clone(),
            keys.clone(),
            Arc::new(self.clock.clone()),
            config,
        )
        .unwrap();
        TestSdk {
            sdk,
            keys,
            accounts,
            dir: Arc::new(dir),
        }
    }

    /// The server's view of a user's devices (`GET /admin/v1/users/{id}/devices`).
    pub async fn devices_of(&self, user_id: &str) -> Vec<Value> {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/users/{user_id}/devices"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["devices"].as_array().unwrap().clone()
    }
}

/// An SDK together with its stores.
#[derive(Clone)]
pub struct TestSdk {
    /// The SDK.
    pub sdk: Authenticator,
    /// Its key store (files under [`TestSdk::key_file`]).
    pub keys: Arc<SoftwareKeyStore>,
    /// Its account store.
    pub accounts: Arc<MemoryAccountStore>,
    dir: Arc<tempfile::TempDir>,
}

impl TestSdk {
    /// The PKCS#8 file of the key under `alias`.
    pub fn key_file(&self, alias: &str) -> PathBuf {
        self.dir.path().join("keys").join(format!("{alias}.pk8"))
    }
}

/// A TLS-terminating proxy on `localhost` with a certificate from its own test CA; after the
/// handshake it forwards the raw bytes to a plain-HTTP backend. Like a bank's front end with
/// HTTP/2 on, it offers `h2` before `http/1.1` and records what each connection negotiated.
/// Stops when dropped.
pub struct TlsFront {
    /// The port it listens on.
    pub port: u16,
    /// The test CA's certificate, PEM.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The served (leaf) certificate, DER.
    pub leaf_der: Vec<u8>,
    listener: Option<tokio::net::TcpListener>,
    config: Arc<rustls::ServerConfig>,
    task: Option<JoinHandle<()>>,
    alpn: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
}

impl TlsFront {
    /// Binds the port and makes the certificates; [`TlsFront::forward_to`] starts serving.
    pub async fn bind() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let ca = TestCa::new("CIBA test CA");
        Self {
            port,
            config: ca.server_config(&[b"h2", b"http/1.1"]),
            ca_pem: ca.ca_pem,
            ca_der: ca.ca_der,
            leaf_der: ca.leaf_der,
            listener: Some(listener),
            task: None,
            alpn: Arc::default(),
        }
    }

    /// The application protocol each completed handshake agreed on, in order.
    pub fn negotiated_protocols(&self) -> Vec<Option<Vec<u8>>> {
        self.alpn.lock().unwrap().clone()
    }

    /// `https://localhost:<port>`: the issuer of a server behind this front.
    pub fn issuer(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Starts terminating TLS and forwarding every connection to `backend`.
    pub fn forward_to(&mut self, backend: SocketAddr) {
        let listener = self.listener.take().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config));
        let alpn = Arc::clone(&self.alpn);
        self.task = Some(tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let alpn = Arc::clone(&alpn);
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to forward.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let protocol = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    alpn.lock().unwrap().push(protocol);
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        }));
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The public JWK of an uncompressed P-256 point (`04‖x‖y`), with `kid`.
pub fn p256_jwk(point: &[u8], kid: &str) -> Value {
    use base64::Engine;
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
           "x": b64u(&point[1..33]), "y": b64u(&point[33..65])})
}

/// The claims of a compact JWS (not verified: the tests read what the server signed).
pub fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The single-use code of an enrollment URI.
pub fn enrollment_code(uri: &str) -> String {
    url::Url::parse(uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}
