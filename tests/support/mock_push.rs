//! Mock FCM and APNs that record what they receive, so tests (and the benchmark) drive the
//! server's real push clients against them: FCM's OAuth token endpoint and `messages:send`,
//! APNs over HTTP/2 and TLS with a certificate of a test CA, counting TCP connections.

pub use super::ca::TestCa;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use ciba_server::config::{ApnsSettings, FcmSettings, Settings};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The FCM project of the tests.
pub const FCM_PROJECT: &str = "ciba-test";
/// The APNs team id of the tests.
pub const APNS_TEAM_ID: &str = "TEAM123456";
/// The APNs key id of the tests.
pub const APNS_KEY_ID: &str = "KEY7654321";
/// The app's bundle id (APNs topic).
pub const APNS_TOPIC: &str = "com.example.bank";
/// The service account of the tests.
pub const SERVICE_ACCOUNT: &str = "ciba-push@ciba-test.iam.gserviceaccount.com";

const SERVICE_ACCOUNT_KEY: &str = include_str!("../fixtures/fcm-service-account-key.pem");
/// The public half, PKCS#1 `RSAPublicKey` DER.
const SERVICE_ACCOUNT_PUBLIC_KEY: &[u8] =
    include_bytes!("../fixtures/fcm-service-account-key.pub.der");

/// Verifies a compact JWS with `algorithm` and the public key bytes; returns header and claims.
pub fn verify_jws(
    token: &str,
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    public_key: &[u8],
) -> (Value, Value) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let signature = b64.decode(parts[2]).unwrap();
    ring::signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the signature verifies");
    let decode = |part: &str| serde_json::from_slice::<Value>(&b64.decode(part).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]))
}

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path (and query).
    pub path: String,
    /// HTTP version it came over.
    pub version: Version,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Recorded {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// JSON body (none when Null).
    pub body: Value,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            retry_after: None,
        }
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::from_u16(self.status).unwrap(),
            if self.body.is_null() {
                String::new()
            } else {
                self.body.to_string()
            },
        )
            .into_response();
        if !self.body.is_null() {
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
        }
        if let Some(r) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", r.parse().unwrap());
        }
        response
    }
}

/// What a mock keeps.
#[derive(Default)]
pub struct MockLog {
    received: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    /// Requests answered (recorded or not).
    pub count: AtomicUsize,
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// Whether requests are recorded (the benchmark only counts).
    pub record: AtomicBool,
}

impl MockLog {
    fn new() -> Arc<Self> {
        let log = Arc::new(Self::default());
        log.record.store(true, Ordering::Relaxed);
        log
    }

    async fn take(&self, request: Request) -> (Recorded, Option<Reply>) {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let recorded = Recorded {
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            version: parts.version,
            headers: parts.headers,
            body,
        };
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.record.load(Ordering::Relaxed) {
            self.received.lock().unwrap().push(recorded.clone());
        }
        let reply = self.script.lock().unwrap().pop_front();
        (recorded, reply)
    }

    /// What was received so far.
    pub fn received(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }

    /// Queues answers for the next requests (then the default answer).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Waits (up to 10 s of real time) until `n` requests were recorded.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let what = format!("the mock receives {n} requests");
        super::eventually(&what, || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// Accepts TCP connections (counting them), then TLS when configured.
struct CountingListener {
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    log: Arc<MockLog>,
}

/// A plain or TLS stream.
enum MockIo {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for MockIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for MockIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = MockIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (MockIo, SocketAddr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            self.log.connections.fetch_add(1, Ordering::Relaxed);
            match &self.tls {
                None => return (MockIo::Plain(tcp), addr),
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        return (MockIo::Tls(Box::new(tls)), addr);
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Serves `app` on a fresh port, over TLS with `ca`'s certificate when given.
async fn serve(
    app: axum::Router,
    ca: Option<&TestCa>,
    log: Arc<MockLog>,
) -> (String, JoinHandle<()>) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let base = match ca {
        Some(_) => format!("https://localhost:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    let listener = CountingListener {
        tcp,
        tls: ca.map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"h2", b"http/1.1"]))),
        log,
    };
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

/// Mock FCM: the OAuth token endpoint (`/token`) and `messages:send`.
pub struct MockFcm {
    /// Its base URL.
    pub base_url: String,
    /// `messages:send` calls.
    pub messages: Arc<MockLog>,
    /// Token endpoint calls.
    pub tokens: Arc<MockLog>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct FcmState {
    messages: Arc<MockLog>,
    tokens: Arc<MockLog>,
}

async fn fcm_token(State(state): State<FcmState>, request: Request) -> Response {
    let (_, reply) = state.tokens.take(request).await;
    let n = state.tokens.count.load(Ordering::Relaxed);
    reply
        .unwrap_or_else(|| {
            Reply::new(
                200,
                json!({"access_token": format!("fcm-access-{n}"), "expires_in": 3600, "token_type": "Bearer"}),
            )
        })
        .into_response()
}

async fn fcm_send(State(state): State<FcmState>, request: Request) -> Response {
    let (_, reply) = state.messages.take(request).await;
    reply
        .unwrap_or_else(|| {
            Reply::new(
                200,
                json!({"name": format!("projects/{FCM_PROJECT}/messages/0:1")}),
            )
        })
        .into_response()
}

impl MockFcm {
    /// Starts it, over TLS when `ca` is given.
    pub async fn start(ca: Option<&TestCa>) -> Self {
        let state = FcmState {
            messages: MockLog::new(),
            tokens: MockLog::new(),
        };
        let app = axum::Router::new()
            .route("/token", axum::routing::post(fcm_token))
            .fallback(fcm_send)
            .with_state(state.clone());
        let (base_url, task) = serve(app, ca, state.messages.clone()).await;
        Self {
            base_url,
            messages: state.messages,
            tokens: state.tokens,
            task,
        }
    }

    /// Writes a service-account key file whose `token_uri` is this mock; returns its path.
    pub fn write_service_account(&self, dir: &Path) -> PathBuf {
        let path = dir.join("service-account.json");
        let key = json!({
            "type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "test-key-1",
            "private_key": SERVICE_ACCOUNT_KEY, "client_email": SERVICE_ACCOUNT,
            "client_id": "1234567890", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.base_url),
        });
        std::fs::write(&path, key.to_string()).unwrap();
        path
    }

    /// The FCM settings pointing at this mock.
    pub fn settings(&self, dir: &Path) -> FcmSettings {
        FcmSettings {
            project_id: FCM_PROJECT.into(),
            service_account_file: self.write_service_account(dir),
            base_url: self.base_url.clone(),
        }
    }

    /// Checks a token request (JWT-bearer grant with an RS256 assertion of the service
    /// account for FCM's scope, audience the token URI); returns the assertion's claims.
    pub fn verify_token_request(&self, request: &Recorded) -> Value {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            get("grant_type"),
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        );
        let assertion = get("assertion");
        let (header, claims) = verify_jws(
            &assertion,
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            SERVICE_ACCOUNT_PUBLIC_KEY,
        );
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1"})
        );
        assert_eq!(claims["iss"], SERVICE_ACCOUNT);
        assert_eq!(claims["aud"], format!("{}/token", self.base_url));
        assert_eq!(
            claims["scope"],
            "https://www.googleapis.com/auth/firebase.messaging"
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        claims
    }
}

impl Drop for MockFcm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Mock APNs over HTTP/2 and TLS.
pub struct MockApns {
    /// Its base URL (`https://localhost:<port>`).
    pub base_url: String,
    /// What it received.
    pub log: Arc<MockLog>,
    task: JoinHandle<()>,
}

async fn apns_send(State(log): State<Arc<MockLog>>, request: Request) -> Response {
    let (recorded, reply) = log.take(request).await;
    match reply {
        Some(reply) => reply.into_response(),
        None => {
            let mut response = StatusCode::OK.into_response();
            let id = format!(
                "00000000-0000-0000-0000-{:012}",
                log.count.load(Ordering::Relaxed)
            );
            response
                .headers_mut()
                .insert("apns-id", id.parse().unwrap());
            let _ = recorded;
            response
        }
    }
}

impl MockApns {
    /// Starts it with `ca`'s certificate.
    pub async fn start(ca: &TestCa) -> Self {
        let log = MockLog::new();
        let app = axum::Router::new()
            .fallback(apns_send)
            .with_state(log.clone());
        let (base_url, task) = serve(app, Some(ca), log.clone()).await;
        Self {
            base_url,
            log,
            task,
        }
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An APNs authentication key (`.p8`) and its public half.
pub struct ApnsKey {
    /// PKCS#8 PEM, as Apple hands it out.
    pub p8: String,
    /// The public key, an uncompressed P-256 point.
    pub public_key: Vec<u8>,
}

impl ApnsKey {
    /// A fresh P-256 key.
    pub fn generate() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            p8: key.serialize_pem(),
            public_key: key.public_key_raw().to_vec(),
        }
    }

    /// Writes the `.p8` into `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("AuthKey_{APNS_KEY_ID}.p8"));
        std::fs::write(&path, &self.p8).unwrap();
        path
    }

    /// Checks a provider token (ES256, `kid` the key id, `iss` the team); returns its claims.
    pub fn verify(&self, authorization: &str) -> Value {
        let token = authorization.strip_prefix("bearer ").unwrap();
        let (header, claims) = verify_jws(
            token,
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            &self.public_key,
        );
        assert_eq!(header, json!({"alg": "ES256", "kid": APNS_KEY_ID}));
        assert_eq!(claims["iss"], APNS_TEAM_ID);
        claims
    }
}

/// FCM, APNs production and APNs sandbox mocks, with credentials on disk.
pub struct PushMocks {
    /// Mock FCM (plain HTTP).
    pub fcm: MockFcm,
    /// Mock APNs for production devices.
    pub apns: MockApns,
    /// Mock APNs for sandbox devices.
    pub apns_sandbox: MockApns,
    /// The `.p8` key.
    pub apns_key: ApnsKey,
    /// The CA of the APNs mocks.
    pub ca: TestCa,
    dir: tempfile::TempDir,
}

impl PushMocks {
    /// Starts the three mocks.
    pub async fn start() -> Self {
        let ca = TestCa::new("CIBA push test CA");
        Self {
            fcm: MockFcm::start(None).await,
            apns: MockApns::start(&ca).await,
            apns_sandbox: MockApns::start(&ca).await,
            apns_key: ApnsKey::generate(),
            ca,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The APNs settings pointing at the mocks.
    pub fn apns_settings(&self) -> ApnsSettings {
        ApnsSettings {
            team_id: APNS_TEAM_ID.into(),
            key_id: APNS_KEY_ID.into(),
            key_file: self.apns_key.write(self.dir.path()),
            topic: APNS_TOPIC.into(),
            production_base_url: self.apns.base_url.clone(),
            sandbox_base_url: self.apns_sandbox.base_url.clone(),
        }
    }

    /// Points a server's push settings at the mocks (both providers) with a fast worker.
    pub fn configure(&self, settings: &mut Settings) {
        settings.push.fcm = Some(self.fcm.settings(self.dir.path()));
        settings.push.apns = Some(self.apns_settings());
        settings.push.extra_root_certificates =
            vec![self.ca.write(self.dir.path(), "push-test-ca.pem")];
        settings.push.worker_interval_ms = 20;
    }
}
