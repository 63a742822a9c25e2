//! The hostile-input table: one row per hostile request (or short sequence), sent to the real
//! server over HTTP, with the refusal it must get — status, `error` code, and the header the
//! answer must carry — and a check that nothing changed: the audit log (all of it, and the
//! victim's own through `GET /admin/v1/audit?user_id=`), the victim's pending transactions as
//! their enrolled SDK sees them, the victim's user and device records, and the transactions the
//! row aims at. After each class the victim client still runs a full flow.
//!
//! Every row is a request that would succeed but for its one hostile part (each class checks
//! its base request succeeds), so a row fails when the defence it names is removed. Every answer
//! is a JSON error body `{"error", "error_description"}` with `Cache-Control: no-store` and
//! without a stack trace, a file path, `panicked` or SQL text.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ciba_core::authenticator::{Account, Authenticator, Transaction};
use ciba_core::clock::Clock;
use ciba_core::jose::software::{SoftwareSigner, random_b64u};
use ciba_core::jose::{Signer, b64u_encode};
use ciba_core::protocol::{
    DecisionAction, DecisionStatus, PushEnvironment, PushProvider, PushRegistration,
};
use ciba_e2e::mock_push::PushMocks;
use ciba_e2e::*;
use reqwest::Method;
use serde_json::{Value, json};

const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
const BASIC_CHALLENGE: &str = "Basic realm=\"ciba\"";
const BEARER_CHALLENGE: &str = "Bearer realm=\"ciba-admin\"";
const VICTIM: &str = "alice";
const VICTIM_EMAIL: &str = "alice@bank.example";
const VICTIM_PHONE: &str = "+33600000001";

// ---------------------------------------------------------------------------------------------
// Requests and answers.

/// One raw HTTP request, exactly as the attacker sends it.
#[derive(Debug, Clone)]
struct Hostile {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    /// Content type (none when empty) and bytes.
    body: Option<(String, Vec<u8>)>,
}

impl Hostile {
    fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }

    fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    /// Adds a header (a second one of the same name is a second header).
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn authorization(self, value: impl Into<String>) -> Self {
        self.header("authorization", value)
    }

    fn admin(self) -> Self {
        self.authorization(format!("Bearer {ADMIN_TOKEN}"))
    }

    fn dpop(self, proof: &str) -> Self {
        self.header("dpop", proof)
    }

    fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), bytes.into()));
        self
    }

    fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.raw("application/x-www-form-urlencoded", body)
    }

    fn json(self, value: &Value) -> Self {
        self.raw("application/json", value.to_string())
    }
}

/// What the server answered.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(server: &TestServer, request: &Hostile) -> Answer {
    let mut builder = server
        .http
        .request(request.method.clone(), server.url(&request.path));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some((content_type, bytes)) = &request.body {
        if !content_type.is_empty() {
            builder = builder.header("content-type", content_type.as_str());
        }
        builder = builder.body(bytes.clone());
    }
    let response = builder.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

// ---------------------------------------------------------------------------------------------
// Expectations.

/// The refusal a row must get.
#[derive(Debug, Clone, Copy)]
struct Expect {
    status: u16,
    error: &'static str,
    /// `WWW-Authenticate`, when the answer must carry one.
    challenge: Option<&'static str>,
    /// `Retry-After`, when the answer must carry one.
    retry_after: Option<&'static str>,
    /// The kinds of the audit events the refusal itself records (in order); usually none.
    audited: &'static [&'static str],
}

const fn refused(status: u16, error: &'static str) -> Expect {
    Expect {
        status,
        error,
        challenge: None,
        retry_after: None,
        audited: &[],
    }
}

impl Expect {
    const fn challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    const fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }

    const fn audited(mut self, kinds: &'static [&'static str]) -> Self {
        self.audited = kinds;
        self
    }
}

/// What an error answer must never show: traces, source paths, panics, SQL, storage internals.
const LEAKS: &[&str] = &[
    "panicked",
    "stack backtrace",
    "RUST_BACKTRACE",
    ".rs:",
    "/src/",
    "/home/",
    "/tmp/",
    "/usr/",
    "/work/",
    "/root/",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    " WHERE ",
    "sqlx",
    "sqlite",
    "SQLite",
    "postgres",
    "Postgres",
    "syntax error",
    "constraint",
    "UNIQUE",
];

/// Asserts the answer is the expected refusal, in the JSON error shape, leaking nothing.
fn assert_refusal(name: &str, answer: &Answer, expect: &Expect) {
    let body: Value = serde_json::from_str(&answer.text)
        .unwrap_or_else(|_| panic!("{name}: not JSON ({}): {}", answer.status, answer.text));
    assert_eq!(
        (answer.status, body["error"].as_str()),
        (expect.status, Some(expect.error)),
        "{name}: {}",
        answer.text
    );
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "error_description"], "{name}: {body}");
    let description = body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: error_description is not text: {body}"));
    assert!(
        !description.is_empty() && description.chars().all(|c| (' '..='~').contains(&c)),
        "{name}: error_description must be printable ASCII: {description:?}"
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{name}"
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{name}");
    if let Some(challenge) = expect.challenge {
        assert_eq!(
            answer.header("www-authenticate"),
            Some(challenge),
            "{name}: WWW-Authenticate"
        );
    }
    if let Some(retry_after) = expect.retry_after {
        assert_eq!(
            answer.header("retry-after"),
            Some(retry_after),
            "{name}: Retry-After"
        );
    }
    assert!(
        !answer.text.contains(ADMIN_TOKEN),
        "{name}: the answer shows the admin token"
    );
    for leak in LEAKS {
        assert!(
            !answer.text.contains(leak),
            "{name}: the answer shows {leak:?}: {}",
            answer.text
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

/// A request sent (and expected to get `status`) just before a row's snapshot: the first half
/// of a sequence whose second half is the attack.
struct Step {
    request: Hostile,
    status: u16,
}

/// One row of the table.
struct Row {
    name: String,
    setup: Vec<Step>,
    request: Hostile,
    expect: Expect,
    /// Transactions of the victim whose view must not change.
    watch: Vec<String>,
    /// After the row, this client's poll of this `auth_req_id` must still be an ordinary
    /// `authorization_pending`: nobody else's poll counted as its own.
    victim_poll: Option<(TestClient, String)>,
}

impl Row {
    fn new(name: impl Into<String>, request: Hostile, expect: Expect) -> Self {
        Self {
            name: name.into(),
            setup: Vec::new(),
            request,
            expect,
            watch: Vec::new(),
            victim_poll: None,
        }
    }

    fn after(mut self, request: Hostile, status: u16) -> Self {
        self.setup.push(Step { request, status });
        self
    }

    fn watch(mut self, txn_id: &str) -> Self {
        self.watch.push(txn_id.to_owned());
        self
    }

    fn victim_polls(mut self, client: &TestClient, auth_req_id: &str) -> Self {
        self.victim_poll = Some((client.clone(), auth_req_id.to_owned()));
        self
    }
}

/// What a row could have altered.
#[derive(Debug, PartialEq)]
struct Snapshot {
    audit: Vec<Value>,
    victim_audit: Vec<Value>,
    pending: Vec<Value>,
    user: Value,
    devices: Vec<Value>,
    watched: Vec<Value>,
}

/// One server with its victim: a user with an enrolled SDK device.
struct Base {
    server: TestServer,
    user: Value,
    sdk: Authenticator,
    account: Account,
}

impl Base {
    /// A server without background workers (nothing writes behind a row's back) and the victim.
    async fn start(tweak: impl FnOnce(&mut ciba_server::config::Settings)) -> Self {
        let server = TestServer::start_manual(tweak).await;
        let (status, user) = server
            .admin(
                Method::POST,
                "/admin/v1/users",
                Some(
                    json!({"username": VICTIM, "email": VICTIM_EMAIL, "phone": VICTIM_PHONE,
                            "display_name": "Alice Example"}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let (sdk, account) = server
            .enroll_device(user["id"].as_str().unwrap(), PushRegistration::none())
            .await;
        Self {
            server,
            user,
            sdk,
            account,
        }
    }

    fn victim_id(&self) -> &str {
        self.user["id"].as_str().unwrap()
    }

    fn issuer(&self) -> &str {
        &self.server.issuer
    }

    fn now(&self) -> i64 {
        self.server.clock.now()
    }

    async fn audit(&self, user_id: Option<&str>) -> Vec<Value> {
        let path = match user_id {
            Some(id) => format!("/admin/v1/audit?user_id={id}&limit=10000"),
            None => "/admin/v1/audit?limit=10000".to_owned(),
        };
        let (status, body) = self.server.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().unwrap().clone()
    }

    async fn pending_ids(&self) -> HashSet<String> {
        let pending = self.sdk.pending().await.unwrap();
        pending.into_iter().map(|t| t.view.id).collect()
    }

    async fn snapshot(&self, watch: &[String]) -> Snapshot {
        let pending = self.sdk.pending().await.unwrap();
        let (status, user) = self
            .server
            .admin(
                Method::GET,
                &format!("/admin/v1/users/{}", self.victim_id()),
                None,
            )
            .await;
        assert_eq!(status, 200, "{user}");
        let mut watched = Vec::new();
        for txn in watch {
            let seen = self.sdk.transaction(&self.account.id, txn).await.unwrap();
            watched.push(serde_json::to_value(&seen.view).unwrap());
        }
        Snapshot {
            audit: self.audit(None).await,
            victim_audit: self.audit(Some(self.victim_id())).await,
            pending: pending
                .iter()
                .map(|t| serde_json::to_value(&t.view).unwrap())
                .collect(),
            user,
            devices: self.server.devices_of(self.victim_id()).await,
            watched,
        }
    }

    /// A backchannel request that must succeed; returns its `auth_req_id` and the transaction
    /// the victim's SDK now lists for it.
    async fn start_request(
        &self,
        client: &TestClient,
        params: &[(&str, &str)],
    ) -> (String, Transaction) {
        let before = self.pending_ids().await;
        let answer = self.server.backchannel(client, params).await;
        assert_eq!(answer.status, 200, "{params:?}: {}", answer.body);
        let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
        let txn = self
            .sdk
            .pending()
            .await
            .unwrap()
            .into_iter()
            .find(|t| !before.contains(&t.view.id))
            .expect("the new request reaches the victim's device");
        (auth_req_id, txn)
    }

    /// The victim's ordinary request, long-lived so that rows moving the clock do not expire it.
    async fn victim_request(&self, client: &TestClient) -> (String, Transaction) {
        self.start_request(
            client,
            &[
                ("scope", "openid accounts"),
                ("login_hint", VICTIM),
                ("binding_message", "W4-7QX"),
                ("requested_expiry", "1800"),
            ],
        )
        .await
    }

    /// A full flow for `client`: request, approval on the victim's phone, tokens. Returns the
    /// token answer.
    async fn full_flow(&self, client: &TestClient) -> Value {
        let (auth_req_id, txn) = self.victim_request(client).await;
        assert_eq!(
            self.sdk.approve(&txn, vec!["swk".into()]).await.unwrap(),
            DecisionStatus::Approved
        );
        let answer = self.server.poll(client, &auth_req_id).await;
        assert_eq!(answer.status, 200, "the full flow: {}", answer.body);
        assert!(answer.body["access_token"].is_string(), "{}", answer.body);
        answer.body
    }
}

fn assert_unchanged(name: &str, victim_id: &str, before: &Snapshot, after: &Snapshot, e: &Expect) {
    assert!(
        after.audit.len() >= before.audit.len()
            && after.audit[..before.audit.len()] == before.audit,
        "{name}: the audit log was rewritten"
    );
    let added = &after.audit[before.audit.len()..];
    let kinds: Vec<&str> = added.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, e.audited, "{name}: audit events recorded: {added:?}");
    let mut victim_audit = before.victim_audit.clone();
    victim_audit.extend(
        added
            .iter()
            .filter(|e| e["user_id"].as_str() == Some(victim_id))
            .cloned(),
    );
    assert_eq!(
        after.victim_audit, victim_audit,
        "{name}: the victim's audit"
    );
    assert_eq!(
        after.pending, before.pending,
        "{name}: the victim's pending transactions"
    );
    assert_eq!(after.user, before.user, "{name}: the victim's user record");
    assert_eq!(
        after.devices, before.devices,
        "{name}: the victim's device records"
    );
    assert_eq!(
        after.watched, before.watched,
        "{name}: the transactions the row aims at"
    );
}

/// Runs a class's rows: `step` seconds of the server clock pass before each (so per-second
/// limits and poll intervals of one row do not reach into the next). Returns how many ran.
async fn run_table(base: &Base, class: &str, rows: Vec<Row>, step: i64) -> usize {
    let count = rows.len();
    let mut names = HashSet::new();
    for row in rows {
        let name = format!("{class} / {}", row.name);
        assert!(names.insert(name.clone()), "{name}: two rows of that name");
        base.server.clock.advance(step);
        for (i, step) in row.setup.iter().enumerate() {
            let answer = send(&base.server, &step.request).await;
            assert_eq!(
                answer.status, step.status,
                "{name}: setup step {i}: {}",
                answer.text
            );
        }
        let before = base.snapshot(&row.watch).await;
        let answer = send(&base.server, &row.request).await;
        assert_refusal(&name, &answer, &row.expect);
        let after = base.snapshot(&row.watch).await;
        assert_unchanged(&name, base.victim_id(), &before, &after, &row.expect);
        if let Some((client, auth_req_id)) = &row.victim_poll {
            let poll = base.server.poll(client, auth_req_id).await;
            assert_eq!(
                (poll.status, poll.error()),
                (400, "authorization_pending"),
                "{name}: the victim's next poll"
            );
        }
    }
    eprintln!("hostile table: {class}: {count} rows");
    count
}

// ---------------------------------------------------------------------------------------------
// JOSE helpers: proofs and decisions with exactly one thing wrong.

fn jws(header: &Value, claims: &Value, signer: &dyn Signer) -> String {
    let input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64u_encode(&signature))
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    )
}

fn jti() -> String {
    random_b64u(16).unwrap()
}

fn dpop_parts(
    signer: &dyn Signer,
    issuer: &str,
    method: &str,
    path: &str,
    iat: i64,
) -> (Value, Value) {
    (
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.public_jwk()}),
        json!({"jti": jti(), "htm": method, "htu": format!("{issuer}{path}"), "iat": iat}),
    )
}

/// A DPoP proof by `signer` for `method path` at `iat`, after `edit` changes its header or
/// claims.
fn dpop_edited(
    signer: &dyn Signer,
    issuer: &str,
    method: &str,
    path: &str,
    iat: i64,
    edit: impl FnOnce(&mut Value, &mut Value),
) -> String {
    let (mut header, mut claims) = dpop_parts(signer, issuer, method, path, iat);
    edit(&mut header, &mut claims);
    jws(&header, &claims, signer)
}

fn dpop(base: &Base, signer: &dyn Signer, method: &str, path: &str) -> String {
    dpop_edited(signer, base.issuer(), method, path, base.now(), |_, _| {})
}

fn decision_header(kid: &str) -> Value {
    json!({"alg": "ES256", "typ": "ciba-decision+jwt", "kid": kid})
}

/// The decision `claims` with `edit` applied, signed by `signer` under `kid`.
fn decision_edited(
    claims: &Value,
    kid: &str,
    signer: &dyn Signer,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut claims = claims.clone();
    edit(&mut claims);
    jws(&decision_header(kid), &claims, signer)
}

fn decision_path(txn: &str) -> String {
    format!("/device/v1/transactions/{txn}/decision")
}

fn decision_body(jws: &str) -> Value {
    json!({ "decision": jws })
}

// ---------------------------------------------------------------------------------------------
// Client authentication, at both OAuth endpoints.

#[tokio::test]
async fn client_authentication() {
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let basic_client = server.create_client(json!({})).await;
    let post_client = server
        .create_client(
            json!({"name": "Post Shop", "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
    let other = server.create_client(json!({"name": "Other Shop"})).await;
    let (auth_req_id, _) = base.victim_request(&basic_client).await;
    let (c, p, o) = (&basic_client, &post_client, &other);

    type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>, Expect);
    // Every 401 carries the Basic challenge, also for clients that tried client_secret_post
    // (RFC 7235 §3.1: a 401 must say how to authenticate).
    let challenged = refused(401, "invalid_client").challenge(BASIC_CHALLENGE);
    let invalid_client = challenged;
    let cases: Vec<Case<'_>> = vec![
        ("no client authentication", None, vec![], challenged),
        (
            "wrong secret (Basic)",
            Some(basic(&c.id, "wrong-secret")),
            vec![],
            challenged,
        ),
        (
            "unknown client id (Basic)",
            Some(basic("no-such-client", &c.secret)),
            vec![],
            challenged,
        ),
        (
            "the secret of another client (Basic)",
            Some(basic(&c.id, &o.secret)),
            vec![],
            challenged,
        ),
        (
            "Basic and client_secret_post at once",
            Some(basic(&c.id, &c.secret)),
            vec![
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
            ],
            refused(400, "invalid_request"),
        ),
        (
            "Basic with a different form client_id",
            Some(basic(&c.id, &c.secret)),
            vec![("client_id", o.id.as_str())],
            refused(400, "invalid_request"),
        ),
        (
            "Basic that is not base64",
            Some("Basic !!!not*base64!!!".into()),
            vec![],
            challenged,
        ),
        (
            "Basic without a colon",
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}{}", c.id, c.secret))
            )),
            vec![],
            challenged,
        ),
        (
            "Basic with an empty client id",
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!(":{}", c.secret))
            )),
            vec![],
            challenged,
        ),
        (
            "Basic that is not UTF-8",
            Some(format!(
                "Basic {}",
                STANDARD.encode([0xff, 0xfe, b':', b'x'])
            )),
            vec![],
            challenged,
        ),
        (
            "the Bearer scheme instead of Basic",
            Some(format!("Bearer {}", c.secret)),
            vec![],
            challenged,
        ),
        (
            "a client_secret_post client using Basic",
            Some(basic(&p.id, &p.secret)),
            vec![],
            challenged,
        ),
        (
            "a client_secret_basic client using client_secret_post",
            None,
            vec![
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_str()),
            ],
            invalid_client,
        ),
        (
            "wrong secret (client_secret_post)",
            None,
            vec![
                ("client_id", p.id.as_str()),
                ("client_secret", "wrong-secret"),
            ],
            invalid_client,
        ),
        (
            "the secret of another client (client_secret_post)",
            None,
            vec![
                ("client_id", p.id.as_str()),
                ("client_secret", o.secret.as_str()),
            ],
            invalid_client,
        ),
        (
            "client_secret without client_id",
            None,
            vec![("client_secret", p.secret.as_str())],
            invalid_client,
        ),
        (
            "client_id without a secret",
            None,
            vec![("client_id", p.id.as_str())],
            challenged,
        ),
    ];
    let endpoints: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "/backchannel/authenticate",
            vec![("scope", "openid"), ("login_hint", VICTIM)],
        ),
        (
            "/token",
            vec![
                ("grant_type", CIBA_GRANT),
                ("auth_req_id", auth_req_id.as_str()),
            ],
        ),
    ];
    let mut rows = Vec::new();
    for (path, params) in &endpoints {
        for (name, authorization, extra, expect) in &cases {
            let mut form = params.clone();
            form.extend(extra.iter().copied());
            let mut request = Hostile::post(path).form(&form);
            if let Some(value) = authorization {
                request = request.authorization(value.clone());
            }
            let mut row = Row::new(format!("{path}: {name}"), request, *expect);
            if *path == "/token" {
                row = row.victim_polls(c, &auth_req_id);
            }
            rows.push(row);
        }
    }
    run_table(&base, "client authentication", rows, 6).await;

    // The base requests with the right credentials work, for both methods.
    base.full_flow(c).await;
    base.full_flow(p).await;
}

// ---------------------------------------------------------------------------------------------
// Hints and scope.

#[tokio::test]
async fn hints_and_scope() {
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let c = server.create_client(json!({})).await;
    let o = server.create_client(json!({"name": "Other Shop"})).await;
    let bob = server.create_user("bob").await;
    let locked = server.create_user("lena").await;
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{}/lock", locked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // ID tokens for the victim: issued to the victim client, to another client, and by another
    // server (another issuer, other keys) to a client there.
    let id_token = base.full_flow(&c).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let others_token = base.full_flow(&o).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = Base::start(|_| {}).await;
    let elsewhere_client = elsewhere.server.create_client(json!({})).await;
    let foreign_token = elsewhere.full_flow(&elsewhere_client).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The victim's token with its subject swapped for Bob's, the signature kept.
    let forged = {
        let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
        let mut claims = jwt_claims(&id_token);
        claims["sub"] = bob["subject"].clone();
        parts[1] = b64u_encode(claims.to_string().as_bytes());
        parts.join(".")
    };
    let unsigned_token = {
        let mut claims = jwt_claims(&id_token);
        claims["sub"] = bob["subject"].clone();
        unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims)
    };
    let long_hint = format!("{VICTIM}{}", "x".repeat(300));

    let bc = |client: &TestClient, params: &[(&str, &str)]| {
        Hostile::post("/backchannel/authenticate")
            .authorization(basic(&client.id, &client.secret))
            .form(params)
    };
    let new_user = |body: Value| Hostile::post("/admin/v1/users").admin().json(&body);
    let invalid_request = refused(400, "invalid_request");
    let rows = vec![
        Row::new("no hint", bc(&c, &[("scope", "openid")]), invalid_request),
        Row::new(
            "login_hint and id_token_hint",
            bc(
                &c,
                &[
                    ("scope", "openid"),
                    ("login_hint", VICTIM),
                    ("id_token_hint", &id_token),
                ],
            ),
            invalid_request,
        ),
        Row::new(
            "login_hint and login_hint_token",
            bc(
                &c,
                &[
                    ("scope", "openid"),
                    ("login_hint", VICTIM),
                    ("login_hint_token", "eyJ.eyJ.sig"),
                ],
            ),
            invalid_request,
        ),
        Row::new(
            "login_hint_token (not supported)",
            bc(
                &c,
                &[
                    ("scope", "openid"),
                    (
                        "login_hint_token",
                        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
                    ),
                ],
            ),
            invalid_request,
        ),
        Row::new(
            "unknown user",
            bc(&c, &[("scope", "openid"), ("login_hint", "nobody")]),
            refused(400, "unknown_user_id"),
        ),
        // No identifier can be this long (usernames ≤ 128, emails ≤ 254 bytes), so the length cap
        // is not observable from outside; the row pins the generic answer.
        Row::new(
            "over-long login_hint",
            bc(&c, &[("scope", "openid"), ("login_hint", &long_hint)]),
            refused(400, "unknown_user_id"),
        ),
        Row::new(
            "forged id_token_hint (another subject, the signature kept)",
            bc(&c, &[("scope", "openid"), ("id_token_hint", &forged)]),
            invalid_request,
        ),
        Row::new(
            "unsigned id_token_hint (alg none)",
            bc(
                &c,
                &[("scope", "openid"), ("id_token_hint", &unsigned_token)],
            ),
            invalid_request,
        ),
        Row::new(
            "id_token_hint from another issuer",
            bc(
                &c,
                &[("scope", "openid"), ("id_token_hint", &foreign_token)],
            ),
            invalid_request,
        ),
        Row::new(
            "id_token_hint issued to another client",
            bc(&c, &[("scope", "openid"), ("id_token_hint", &others_token)]),
            invalid_request,
        ),
        Row::new(
            "scope without openid",
            bc(&c, &[("scope", "accounts"), ("login_hint", VICTIM)]),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "scope not registered for the client",
            bc(&c, &[("scope", "openid admin"), ("login_hint", VICTIM)]),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "malformed scope token (quote)",
            bc(
                &c,
                &[("scope", "openid acc\"ounts"), ("login_hint", VICTIM)],
            ),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "malformed scope token (backslash)",
            bc(
                &c,
                &[("scope", "openid accounts\\"), ("login_hint", VICTIM)],
            ),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "malformed scope token (non-ASCII)",
            bc(&c, &[("scope", "openid cómptes"), ("login_hint", VICTIM)]),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "no scope",
            bc(&c, &[("login_hint", VICTIM)]),
            invalid_request,
        ),
        Row::new(
            "a locked user (generic answer)",
            bc(&c, &[("scope", "openid"), ("login_hint", "lena")]),
            refused(400, "access_denied").audited(&["ciba_request_refused"]),
        ),
        // A login hint names at most one user: no identifier of a new user may be any
        // identifier of another.
        Row::new(
            "a new user whose username is the victim's email",
            new_user(json!({"username": VICTIM_EMAIL})),
            refused(409, "conflict"),
        ),
        Row::new(
            "a new user whose username is the victim's phone",
            new_user(json!({"username": VICTIM_PHONE})),
            refused(409, "conflict"),
        ),
        Row::new(
            "a new user whose username is the victim's subject",
            new_user(json!({"username": base.user["subject"]})),
            refused(409, "conflict"),
        ),
        Row::new(
            "a new user whose phone is the victim's username",
            new_user(json!({"username": "mallory", "phone": VICTIM})),
            refused(409, "conflict"),
        ),
        Row::new(
            "a new user with the victim's email",
            new_user(json!({"username": "mallory", "email": VICTIM_EMAIL})),
            refused(409, "conflict"),
        ),
    ];
    run_table(&base, "hints and scope", rows, 1).await;

    // Each hint form names the victim, and the victim client still runs a full flow.
    for hint in [
        VICTIM,
        VICTIM_EMAIL,
        VICTIM_PHONE,
        base.user["subject"].as_str().unwrap(),
    ] {
        base.server.clock.advance(1);
        base.start_request(&c, &[("scope", "openid"), ("login_hint", hint)])
            .await;
    }
    base.start_request(&c, &[("scope", "openid"), ("id_token_hint", &id_token)])
        .await;
    let (status, _) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "mallory", "email": "mallory@bank.example", "phone": "+33600000009"})),
        )
        .await;
    assert_eq!(status, 201, "the conflict rows' only fault was the clash");
}

// ---------------------------------------------------------------------------------------------
// Request parameters of the backchannel request.

#[tokio::test]
async fn backchannel_parameters() {
    // Two acr levels: one any enrolled device meets, one only an attested hardware key with
    // user verification meets (the victim's software key does not).
    let base = Base::start(|s| {
        s.attestation.acr_levels = vec![
            ciba_server::config::AcrLevel {
                value: "urn:acr:x".into(),
                amr: Vec::new(),
            },
            ciba_server::config::AcrLevel {
                value: "urn:acr:hwk-uv".into(),
                amr: vec!["hwk".into(), "user".into()],
            },
        ];
    })
    .await;
    let server = &base.server;
    let c = server.create_client(json!({})).await;
    let ping = server
        .create_client(json!({"name": "Ping Shop", "backchannel_token_delivery_mode": "ping",
                              "backchannel_client_notification_endpoint": "https://client.example/cb"}))
        .await;

    let valid = [("scope", "openid accounts"), ("login_hint", VICTIM)];
    // The valid request plus `extra`.
    let with = |client: &TestClient, extra: &[(&str, &str)]| {
        let mut form: Vec<(&str, &str)> = valid.to_vec();
        form.extend_from_slice(extra);
        Hostile::post("/backchannel/authenticate")
            .authorization(basic(&client.id, &client.secret))
            .form(&form)
    };
    let binding = |message: &str| with(&c, &[("binding_message", message)]);
    let details = |raw: &str| with(&c, &[("authorization_details", raw)]);
    let expiry = |raw: &str| with(&c, &[("requested_expiry", raw)]);
    let bad_binding = refused(400, "invalid_binding_message");
    let bad_details = refused(400, "invalid_authorization_details");
    let invalid_request = refused(400, "invalid_request");
    let long_message = "x".repeat(65);
    let big_details = format!(
        r#"[{{"type":"payment_initiation","note":"{}"}}]"#,
        "x".repeat(17 * 1024)
    );
    let long_token = "a".repeat(1025);
    let eleven_acr = ["urn:acr:x"; 11].join(" ");
    let padding = "x".repeat(70 * 1024);

    let rows = vec![
        Row::new(
            "binding_message with BEL",
            binding("Pay\u{7} now"),
            bad_binding,
        ),
        Row::new(
            "binding_message with a line break",
            binding("line\nbreak"),
            bad_binding,
        ),
        Row::new(
            "binding_message with ESC",
            binding("\u{1b}[31mW4-7QX"),
            bad_binding,
        ),
        Row::new(
            "binding_message with NUL",
            binding("W4\u{0}7QX"),
            bad_binding,
        ),
        Row::new(
            "binding_message with bidi override U+202E",
            binding("\u{202e}XQ7-4W"),
            bad_binding,
        ),
        Row::new(
            "binding_message with a bidi isolate U+2066",
            binding("W4\u{2066}7QX"),
            bad_binding,
        ),
        Row::new(
            "binding_message with a zero-width space",
            binding("W4\u{200b}7QX"),
            bad_binding,
        ),
        Row::new(
            "binding_message too long",
            binding(&long_message),
            bad_binding,
        ),
        Row::new(
            "binding_message <script>",
            binding("<script>alert(1)</script>"),
            bad_binding,
        ),
        Row::new(
            "binding_message with invalid UTF-8",
            {
                let mut request = with(&c, &[]);
                let (_, body) = request.body.as_mut().unwrap();
                body.extend_from_slice(b"&binding_message=W4%FF%FE");
                request
            },
            bad_binding,
        ),
        Row::new(
            "authorization_details not JSON",
            details("[{type: payment}]"),
            bad_details,
        ),
        Row::new(
            "authorization_details not an array",
            details(r#"{"type":"payment_initiation"}"#),
            bad_details,
        ),
        Row::new(
            "authorization_details entry not an object",
            details(r#"["payment_initiation"]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details entry without type",
            details(r#"[{"amount":"10.00"}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details entry with an empty type",
            details(r#"[{"type":""}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details entry with a numeric type",
            details(r#"[{"type":1}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details with ESC in a string",
            details(r#"[{"type":"payment_initiation","creditorName":"\u001b[2JACME"}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details with NUL deep inside",
            details(r#"[{"type":"payment_initiation","items":[{"label":["ok","\u0000"]}]}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details with BEL in a key",
            details(r#"[{"type":"payment_initiation","\u0007note":"x"}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details with U+202E in a string",
            details(r#"[{"type":"payment_initiation","creditorName":"\u202eEMCA"}]"#),
            bad_details,
        ),
        Row::new(
            "authorization_details with U+202E in the type",
            details("[{\"type\":\"payment\u{202e}\"}]"),
            bad_details,
        ),
        Row::new(
            "authorization_details with a raw control character",
            details("[{\"type\":\"payment_initiation\",\"creditorName\":\"A\u{1b}B\"}]"),
            bad_details,
        ),
        Row::new(
            "authorization_details over 16 KiB",
            details(&big_details),
            bad_details,
        ),
        Row::new(
            "requested_expiry not a number",
            expiry("soon"),
            invalid_request,
        ),
        Row::new("requested_expiry negative", expiry("-1"), invalid_request),
        Row::new("requested_expiry zero", expiry("0"), invalid_request),
        Row::new(
            "requested_expiry fractional",
            expiry("1.5"),
            invalid_request,
        ),
        Row::new(
            "requested_expiry in exponent form",
            expiry("1e3"),
            invalid_request,
        ),
        Row::new(
            "requested_expiry over 12 digits",
            expiry("9999999999999"),
            invalid_request,
        ),
        Row::new(
            "a request object (request)",
            with(
                &c,
                &[(
                    "request",
                    "eyJhbGciOiJub25lIn0.eyJsb2dpbl9oaW50IjoiYWxpY2UifQ.",
                )],
            ),
            invalid_request,
        ),
        Row::new(
            "a request object by reference (request_uri)",
            with(&c, &[("request_uri", "https://client.example/request.jwt")]),
            invalid_request,
        ),
        Row::new(
            "client_notification_token from a poll client",
            with(&c, &[("client_notification_token", "abc123")]),
            invalid_request,
        ),
        Row::new(
            "a ping client without client_notification_token",
            with(&ping, &[]),
            invalid_request,
        ),
        Row::new(
            "a ping client with a client_notification_token that is not a bearer token",
            with(&ping, &[("client_notification_token", "abc \"def\"")]),
            invalid_request,
        ),
        Row::new(
            "a ping client with a client_notification_token over 1024 characters",
            with(&ping, &[("client_notification_token", &long_token)]),
            invalid_request,
        ),
        Row::new(
            "acr_values with 11 values",
            with(&c, &[("acr_values", &eleven_acr)]),
            invalid_request,
        ),
        Row::new(
            "acr_values with a non-ASCII value",
            with(&c, &[("acr_values", "urn:acr:très")]),
            invalid_request,
        ),
        Row::new(
            "acr_values naming no level this server defines",
            with(&c, &[("acr_values", "urn:acr:unknown")]),
            invalid_request,
        ),
        Row::new(
            "acr_values no device of the user can meet (a software key for a hardware level)",
            with(&c, &[("acr_values", "urn:acr:hwk-uv")]),
            invalid_request,
        ),
        Row::new(
            "repeated scope",
            with(&c, &[("scope", "openid")]),
            invalid_request,
        ),
        Row::new(
            "repeated login_hint",
            with(&c, &[("login_hint", "bob")]),
            invalid_request,
        ),
        Row::new(
            "repeated binding_message",
            with(
                &c,
                &[("binding_message", "W4-7QX"), ("binding_message", "OTHER")],
            ),
            invalid_request,
        ),
        Row::new(
            "a JSON body",
            Hostile::post("/backchannel/authenticate")
                .authorization(basic(&c.id, &c.secret))
                .json(&json!({"scope": "openid", "login_hint": VICTIM})),
            invalid_request,
        ),
        Row::new(
            "a form body labelled text/plain",
            Hostile::post("/backchannel/authenticate")
                .authorization(basic(&c.id, &c.secret))
                .raw("text/plain", "scope=openid&login_hint=alice"),
            invalid_request,
        ),
        Row::new(
            "a form body without a content type",
            Hostile::post("/backchannel/authenticate")
                .authorization(basic(&c.id, &c.secret))
                .raw("", "scope=openid&login_hint=alice"),
            invalid_request,
        ),
        Row::new(
            "a body over 64 KiB",
            with(&c, &[("padding", &padding)]),
            refused(413, "invalid_request"),
        ),
    ];
    run_table(&base, "backchannel parameters", rows, 1).await;

    // The base requests are valid: the plain one, each optional parameter well-formed, and the
    // ping client with a token.
    base.server.clock.advance(1);
    let mut form: Vec<(&str, &str)> = valid.to_vec();
    form.extend([
        ("binding_message", "Pay 12.50 EUR to Shop #4"),
        (
            "authorization_details",
            r#"[{"type":"payment_initiation","creditorName":"ACME"}]"#,
        ),
        ("requested_expiry", "120"),
        ("acr_values", "urn:acr:x"),
    ]);
    base.start_request(&c, &form).await;
    let mut form: Vec<(&str, &str)> = valid.to_vec();
    form.push(("client_notification_token", "ping-token-1"));
    base.start_request(&ping, &form).await;
    base.full_flow(&c).await;
}

// ---------------------------------------------------------------------------------------------
// The token endpoint.

#[tokio::test]
async fn token_endpoint() {
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let c = server.create_client(json!({})).await;
    let o = server.create_client(json!({"name": "Other Shop"})).await;
    let push = server
        .create_client(json!({"name": "Push Shop", "backchannel_token_delivery_mode": "push",
                              "backchannel_client_notification_endpoint": "https://client.example/cb"}))
        .await;
    // Approved requests of another client and of a push client, one approved request of the
    // victim client (redeemed in its row), and one pending (polled in its row).
    let (others_id, others_txn) = base.victim_request(&o).await;
    base.sdk
        .approve(&others_txn, vec!["swk".into()])
        .await
        .unwrap();
    let (push_id, push_txn) = base
        .start_request(
            &push,
            &[
                ("scope", "openid"),
                ("login_hint", VICTIM),
                ("client_notification_token", "push-token-1"),
            ],
        )
        .await;
    base.sdk
        .approve(&push_txn, vec!["swk".into()])
        .await
        .unwrap();
    let (redeemed_id, redeemed_txn) = base.victim_request(&c).await;
    base.sdk
        .approve(&redeemed_txn, vec!["swk".into()])
        .await
        .unwrap();
    let (pending_id, _) = base.victim_request(&c).await;
    let (others_pending_id, _) = base.victim_request(&o).await;

    let token = |client: &TestClient, params: &[(&str, &str)]| {
        Hostile::post("/token")
            .authorization(basic(&client.id, &client.secret))
            .form(params)
    };
    let poll = |client: &TestClient, id: &str| {
        token(client, &[("grant_type", CIBA_GRANT), ("auth_req_id", id)])
    };
    let long_id = format!("{others_id}{}", "A".repeat(300));
    let unknown = random_b64u(20).unwrap();
    let invalid_grant = refused(400, "invalid_grant");
    let rows = vec![
        Row::new("unknown auth_req_id", poll(&c, &unknown), invalid_grant),
        Row::new(
            "another client's approved auth_req_id",
            poll(&c, &others_id),
            invalid_grant,
        )
        .watch(&others_txn.view.id),
        Row::new(
            "another client's pending auth_req_id",
            poll(&c, &others_pending_id),
            invalid_grant,
        )
        .victim_polls(&o, &others_pending_id),
        // A hash of anything is looked up as a hash; the cap is not observable from outside. The
        // row pins the generic answer.
        Row::new("over-long auth_req_id", poll(&c, &long_id), invalid_grant)
            .watch(&others_txn.view.id),
        Row::new(
            "grant_type authorization_code",
            token(
                &c,
                &[("grant_type", "authorization_code"), ("code", &others_id)],
            ),
            refused(400, "unsupported_grant_type"),
        ),
        Row::new(
            "grant_type client_credentials",
            token(
                &c,
                &[("grant_type", "client_credentials"), ("scope", "openid")],
            ),
            refused(400, "unsupported_grant_type"),
        ),
        Row::new(
            "grant_type refresh_token by a client that did not register it",
            token(
                &c,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &others_id),
                ],
            ),
            refused(400, "unauthorized_client"),
        ),
        Row::new(
            "grant_type device_code with an auth_req_id",
            token(
                &c,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", &redeemed_id),
                ],
            ),
            refused(400, "unsupported_grant_type"),
        ),
        Row::new(
            "no grant_type",
            token(&c, &[("auth_req_id", &redeemed_id)]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "no auth_req_id",
            token(&c, &[("grant_type", CIBA_GRANT)]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "repeated auth_req_id",
            token(
                &c,
                &[
                    ("grant_type", CIBA_GRANT),
                    ("auth_req_id", &redeemed_id),
                    ("auth_req_id", &others_id),
                ],
            ),
            refused(400, "invalid_request"),
        )
        .watch(&redeemed_txn.view.id),
        Row::new(
            "a JSON token request",
            Hostile::post("/token")
                .authorization(basic(&c.id, &c.secret))
                .json(&json!({"grant_type": CIBA_GRANT, "auth_req_id": redeemed_id})),
            refused(400, "invalid_request"),
        )
        .watch(&redeemed_txn.view.id),
        Row::new(
            "a push-mode client polling",
            poll(&push, &push_id),
            refused(400, "unauthorized_client"),
        )
        .watch(&push_txn.view.id),
        Row::new("redeeming twice", poll(&c, &redeemed_id), invalid_grant)
            .after(poll(&c, &redeemed_id), 200)
            .watch(&redeemed_txn.view.id),
        Row::new(
            "polling faster than the interval",
            poll(&c, &pending_id),
            refused(400, "slow_down"),
        )
        .after(poll(&c, &pending_id), 400),
    ];
    run_table(&base, "token endpoint", rows, 0).await;

    // The other client still gets its tokens, once.
    let answer = server.poll(&o, &others_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    base.full_flow(&c).await;
}

// ---------------------------------------------------------------------------------------------
// The device API.

#[tokio::test]
async fn device_api() {
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let alice = base.victim_id().to_owned();
    let c = server.create_client(json!({})).await;
    // Before the clock moves past the codes' lifetime: a code that will be expired, and a
    // request that will be expired, whose view the phone fetched in time.
    let expired_code = new_enrollment_code(server, &alice).await;
    let (_, expired_txn) = base
        .start_request(
            &c,
            &[
                ("scope", "openid"),
                ("login_hint", VICTIM),
                ("requested_expiry", "30"),
            ],
        )
        .await;
    server.clock.advance(601);

    let (sdk2, account2) = server.enroll_device(&alice, PushRegistration::none()).await;
    let (revoked_sdk, revoked) = server.enroll_device(&alice, PushRegistration::none()).await;
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/v1/devices/{}", revoked.device_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, mallory_sdk, mallory) = server.user_with_device("mallory").await;
    let used_code = new_enrollment_code(server, &alice).await;
    server
        .authenticator()
        .enroll(
            &enroll_uri(&base, &used_code),
            device_info(),
            PushRegistration::none(),
        )
        .await
        .unwrap();
    let code = new_enrollment_code(server, &alice).await;

    let (t1_id, t1) = base.victim_request(&c).await;
    let (_, t2) = base
        .start_request(
            &c,
            &[
                ("scope", "openid"),
                ("login_hint", VICTIM),
                ("binding_message", "Q9-2ZZ"),
                ("requested_expiry", "1800"),
            ],
        )
        .await;
    let (_, replayed) = base.victim_request(&c).await;
    let (_, decided) = base.victim_request(&c).await;

    let me = base.sdk.signer(&base.account.id).unwrap();
    let other_device = sdk2.signer(&account2.id).unwrap();
    let revoked_key = revoked_sdk.signer(&revoked.id).unwrap();
    let mallory_key = mallory_sdk.signer(&mallory.id).unwrap();
    let stranger = SoftwareSigner::generate().unwrap();
    let dev1 = base.account.device_id.clone();
    let now = base.now();
    let issuer = base.issuer().to_owned();

    // The valid decision on T1, and the same decision with exactly one thing wrong.
    let d1 = base
        .sdk
        .build_decision(&t1, DecisionAction::Approve, vec!["swk".into()], None)
        .unwrap();
    let d1_claims = jwt_claims(&d1);
    let resign = |edit: &dyn Fn(&mut Value)| decision_edited(&d1_claims, &dev1, &me, edit);
    let t1_path = decision_path(&t1.view.id);
    // A decision on T1 posted by the victim's device with a valid proof.
    let post = |jws: &str| {
        Hostile::post(&t1_path)
            .dpop(&dpop(&base, &me, "POST", &t1_path))
            .json(&decision_body(jws))
    };
    // The valid decision on T1 posted with `proof`.
    let with_proof = |proof: &str| {
        Hostile::post(&t1_path)
            .dpop(proof)
            .json(&decision_body(&d1))
    };
    let proof_edited = |signer: &dyn Signer, edit: &dyn Fn(&mut Value, &mut Value)| {
        dpop_edited(signer, &issuer, "POST", &t1_path, now, edit)
    };
    let invalid_dpop = refused(401, "invalid_dpop_proof");
    let invalid_decision = refused(400, "invalid_decision");

    let replayed_proof = dpop(&base, &me, "POST", &t1_path);
    let enrolled_jwk = serde_json::to_value(me.public_jwk()).unwrap();
    let mut rows = vec![
        Row::new(
            "no DPoP header",
            Hostile::post(&t1_path).json(&decision_body(&d1)),
            invalid_dpop,
        ),
        Row::new(
            "two DPoP headers",
            with_proof(&dpop(&base, &me, "POST", &t1_path))
                .dpop(&dpop(&base, &me, "POST", &t1_path)),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof that is not a JWS",
            with_proof("not-a-jws"),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof with a tampered signature",
            with_proof(&{
                let mut proof = dpop(&base, &me, "POST", &t1_path);
                let at = proof.rfind('.').unwrap() + 4;
                let flipped = if &proof[at..=at] == "A" { "B" } else { "A" };
                proof.replace_range(at..=at, flipped);
                proof
            }),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof for GET",
            with_proof(&dpop(&base, &me, "GET", &t1_path)),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof for another path",
            with_proof(&dpop(&base, &me, "POST", "/device/v1/transactions")),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof for another origin",
            with_proof(&proof_edited(&me, &|_, claims| {
                claims["htu"] = json!(format!(
                    "https://evil.example{}",
                    decision_path(&t1.view.id)
                ));
            })),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof 61 s old",
            with_proof(&proof_edited(&me, &|_, claims| {
                claims["iat"] = json!(now - 61)
            })),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof 61 s ahead",
            with_proof(&proof_edited(&me, &|_, claims| {
                claims["iat"] = json!(now + 61)
            })),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof with a short jti",
            with_proof(&proof_edited(&me, &|_, claims| {
                claims["jti"] = json!("abc")
            })),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof with typ JWT",
            with_proof(&proof_edited(&me, &|header, _| {
                header["typ"] = json!("JWT")
            })),
            invalid_dpop,
        ),
        Row::new(
            "an unsigned DPoP proof (alg none)",
            with_proof(&{
                let (mut header, claims) = dpop_parts(&me, &issuer, "POST", &t1_path, now);
                header["alg"] = json!("none");
                unsigned(&header, &claims)
            }),
            invalid_dpop,
        ),
        Row::new(
            "a DPoP proof without jwk",
            with_proof(&proof_edited(&me, &|header, _| {
                header.as_object_mut().unwrap().remove("jwk");
            })),
            invalid_dpop,
        ),
        Row::new(
            "the enrolled key in the header, signed by another key",
            with_proof(&proof_edited(&stranger, &|header, _| {
                header["jwk"] = enrolled_jwk.clone()
            })),
            invalid_dpop,
        ),
        Row::new(
            "a replayed DPoP proof",
            with_proof(&replayed_proof),
            invalid_dpop,
        )
        .after(
            Hostile::post(&t1_path)
                .dpop(&replayed_proof)
                .json(&decision_body("not-a-jws")),
            400,
        ),
        Row::new(
            "a key that is not enrolled",
            with_proof(&dpop(&base, &stranger, "POST", &t1_path)),
            refused(401, "unknown_device"),
        ),
        Row::new(
            "a revoked device",
            Hostile::post(&t1_path)
                .dpop(&dpop(&base, &revoked_key, "POST", &t1_path))
                .json(&decision_body(&decision_edited(
                    &d1_claims,
                    &revoked.device_id,
                    &revoked_key,
                    |c| {
                        c["iss"] = json!(revoked.device_id);
                    },
                ))),
            refused(401, "device_revoked"),
        ),
        Row::new(
            "a decision signed by another device of the user",
            post(&{
                let t1_there = sdk2.transaction(&account2.id, &t1.view.id).await.unwrap();
                sdk2.build_decision(&t1_there, DecisionAction::Approve, vec!["swk".into()], None)
                    .unwrap()
            }),
            invalid_decision,
        ),
        Row::new(
            "a decision naming the device, signed by another key",
            post(&decision_edited(&d1_claims, &dev1, &stranger, |_| {})),
            invalid_decision,
        ),
        Row::new(
            "a decision with the kid of another device",
            post(&decision_edited(
                &d1_claims,
                &account2.device_id,
                &me,
                |_| {},
            )),
            invalid_decision,
        ),
        Row::new(
            "a decision with the iss of another device",
            post(&resign(&|c| c["iss"] = json!(account2.device_id))),
            invalid_decision,
        ),
        Row::new(
            "a consent_hash over another binding message",
            post(&resign(&|c| {
                c["consent_hash"] = json!(
                    ciba_core::protocol::consent_hash(
                        &t1.view.client.client_id,
                        &t1.view.scope,
                        Some("OTHER"),
                        None
                    )
                    .unwrap()
                );
            })),
            invalid_decision,
        ),
        Row::new(
            "a consent_hash over a wider scope",
            post(&resign(&|c| {
                let mut scope = t1.view.scope.clone();
                scope.push("payments".into());
                c["consent_hash"] = json!(
                    ciba_core::protocol::consent_hash(
                        &t1.view.client.client_id,
                        &scope,
                        t1.view.binding_message.as_deref(),
                        None
                    )
                    .unwrap()
                );
            })),
            invalid_decision,
        ),
        Row::new(
            "the challenge of another transaction",
            post(&resign(&|c| c["challenge"] = json!(t2.view.challenge))),
            invalid_decision,
        ),
        Row::new(
            "the txn of another transaction",
            post(&resign(&|c| c["txn"] = json!(t2.view.id))),
            invalid_decision,
        ),
        Row::new(
            "the aud of another server",
            post(&resign(&|c| c["aud"] = json!("https://other-bank.example"))),
            invalid_decision,
        ),
        Row::new(
            "an expired decision",
            post(&resign(&|c| {
                c["iat"] = json!(now - 100);
                c["exp"] = json!(now - 1);
            })),
            invalid_decision,
        ),
        Row::new(
            "a decision from the future",
            post(&resign(&|c| {
                c["iat"] = json!(now + 100);
                c["exp"] = json!(now + 160);
            })),
            invalid_decision,
        ),
        Row::new(
            "a decision living longer than 120 s",
            post(&resign(&|c| c["exp"] = json!(now + 600))),
            invalid_decision,
        ),
        Row::new(
            "a decision with a short jti",
            post(&resign(&|c| c["jti"] = json!("abc"))),
            invalid_decision,
        ),
        Row::new(
            "an approval with a deny_reason",
            post(&resign(&|c| c["deny_reason"] = json!("not_recognized"))),
            invalid_decision,
        ),
        Row::new(
            "an approval without amr",
            post(&resign(&|c| c["amr"] = json!([]))),
            invalid_decision,
        ),
        Row::new(
            "an amr value with a control character",
            post(&resign(&|c| c["amr"] = json!(["swk\u{7}"]))),
            invalid_decision,
        ),
        Row::new(
            "a decision with typ JWT",
            post(&jws(
                &json!({"alg": "ES256", "typ": "JWT", "kid": dev1}),
                &d1_claims,
                &me,
            )),
            invalid_decision,
        ),
        Row::new(
            "an unsigned decision (alg none)",
            post(&unsigned(
                &json!({"alg": "none", "typ": "ciba-decision+jwt", "kid": dev1}),
                &d1_claims,
            )),
            invalid_decision,
        ),
        Row::new(
            "another user's device deciding the victim's transaction",
            Hostile::post(&t1_path)
                .dpop(&dpop(&base, &mallory_key, "POST", &t1_path))
                .json(&decision_body(&decision_edited(
                    &d1_claims,
                    &mallory.device_id,
                    &mallory_key,
                    |c| {
                        c["iss"] = json!(mallory.device_id);
                    },
                ))),
            invalid_decision,
        ),
        Row::new(
            "another user's device reading the victim's transaction",
            {
                let path = format!("/device/v1/transactions/{}", t1.view.id);
                Hostile::get(&path).dpop(&dpop(&base, &mallory_key, "GET", &path))
            },
            refused(404, "not_found"),
        ),
        Row::new(
            "a decision for a transaction that does not exist",
            {
                let path = decision_path("txn_doesnotexist");
                Hostile::post(&path)
                    .dpop(&dpop(&base, &me, "POST", &path))
                    .json(&decision_body(&d1))
            },
            refused(404, "not_found"),
        ),
        Row::new(
            "a decision body that is not JSON",
            Hostile::post(&t1_path)
                .dpop(&dpop(&base, &me, "POST", &t1_path))
                .raw("application/json", format!("{{\"decision\": \"{d1}\"")),
            refused(400, "invalid_request"),
        ),
    ];
    for row in &mut rows {
        row.watch.push(t1.view.id.clone());
    }

    // Sequences: a decision replayed, a second decision after one won, a late decision.
    let replayed_path = decision_path(&replayed.view.id);
    let replayed_decision = base
        .sdk
        .build_decision(&replayed, DecisionAction::Deny, vec![], None)
        .unwrap();
    let post_at = |path: &str, signer: &dyn Signer, jws: &str| {
        Hostile::post(path)
            .dpop(&dpop(&base, signer, "POST", path))
            .json(&decision_body(jws))
    };
    rows.push(
        Row::new(
            "a decision replayed",
            post_at(&replayed_path, &me, &replayed_decision),
            invalid_decision,
        )
        .after(post_at(&replayed_path, &me, &replayed_decision), 200)
        .watch(&replayed.view.id),
    );
    let decided_path = decision_path(&decided.view.id);
    let decided_there = sdk2
        .transaction(&account2.id, &decided.view.id)
        .await
        .unwrap();
    let winner = sdk2
        .build_decision(
            &decided_there,
            DecisionAction::Approve,
            vec!["swk".into()],
            None,
        )
        .unwrap();
    let loser = base
        .sdk
        .build_decision(&decided, DecisionAction::Deny, vec![], None)
        .unwrap();
    rows.push(
        Row::new(
            "a second decision after one won",
            post_at(&decided_path, &me, &loser),
            refused(409, "already_decided"),
        )
        .after(post_at(&decided_path, &other_device, &winner), 200)
        .watch(&decided.view.id),
    );
    let late = jws(
        &decision_header(&dev1),
        &json!({"iss": dev1, "aud": issuer, "txn": expired_txn.view.id,
                "challenge": expired_txn.view.challenge, "action": "approve",
                "consent_hash": expired_txn.view.consent_hash().unwrap(), "amr": ["swk"],
                "iat": now, "exp": now + 60, "jti": jti()}),
        &me,
    );
    rows.push(
        Row::new(
            "a decision on an expired transaction",
            post_at(&decision_path(&expired_txn.view.id), &me, &late),
            refused(410, "expired"),
        )
        .watch(&expired_txn.view.id),
    );

    // Enrollment: a fresh key each time, with one thing wrong.
    let enroll_body = |code: &str| {
        json!({"code": code, "push": {"provider": "none"},
               "device": {"display_name": "Attacker Phone", "platform": "other"}})
    };
    let enroll = |signer: &dyn Signer, body: &Value| {
        Hostile::post("/device/v1/enrollments")
            .dpop(&dpop(&base, signer, "POST", "/device/v1/enrollments"))
            .json(body)
    };
    let fresh = || SoftwareSigner::generate().unwrap();
    let bad_code = refused(400, "invalid_enrollment_code");
    let mut bad_device = enroll_body(&code);
    bad_device["device"]["display_name"] = json!("Phone\u{1b}[2J");
    let mut none_with_token = enroll_body(&code);
    none_with_token["push"] = json!({"provider": "none", "token": "abc"});
    let mut token_with_newline = enroll_body(&code);
    token_with_newline["push"] =
        json!({"provider": "fcm", "token": "abc\ndef", "environment": "production"});
    rows.extend([
        Row::new(
            "enrollment with a used code",
            enroll(&fresh(), &enroll_body(&used_code)),
            bad_code,
        ),
        Row::new(
            "enrollment with an expired code",
            enroll(&fresh(), &enroll_body(&expired_code)),
            bad_code,
        ),
        Row::new(
            "enrollment with an unknown code",
            enroll(&fresh(), &enroll_body(&random_b64u(20).unwrap())),
            bad_code,
        ),
        Row::new(
            "enrollment of a key that is enrolled already",
            enroll(&me, &enroll_body(&code)),
            refused(409, "device_already_enrolled"),
        ),
        Row::new(
            "enrollment without DPoP",
            Hostile::post("/device/v1/enrollments").json(&enroll_body(&code)),
            invalid_dpop,
        ),
        Row::new(
            "enrollment with a DPoP proof for another path",
            Hostile::post("/device/v1/enrollments")
                .dpop(&dpop(&base, &fresh(), "POST", "/device/v1/transactions"))
                .json(&enroll_body(&code)),
            invalid_dpop,
        ),
        Row::new(
            "enrollment with an escape sequence in the device name",
            enroll(&fresh(), &bad_device),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "enrollment with push provider none and a token",
            enroll(&fresh(), &none_with_token),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "enrollment with a push token holding a line break",
            enroll(&fresh(), &token_with_newline),
            refused(400, "invalid_request"),
        ),
    ]);
    run_table(&base, "device API", rows, 0).await;

    // Every row had one fault only: the valid decision, posted properly, approves T1 and the
    // victim client gets its tokens; the code still enrolls a fresh key.
    let answer = send(server, &post(&d1)).await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (200, r#"{"status":"approved"}"#)
    );
    let tokens = server.poll(&c, &t1_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let answer = send(server, &enroll(&fresh(), &enroll_body(&code))).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    base.full_flow(&c).await;
}

async fn new_enrollment_code(server: &TestServer, user_id: &str) -> String {
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{user_id}/enrollments"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

fn enroll_uri(base: &Base, code: &str) -> String {
    ciba_core::protocol::EnrollmentUri {
        issuer: base.issuer().to_owned(),
        code: code.to_owned(),
    }
    .to_uri_string()
}

// ---------------------------------------------------------------------------------------------
// SSRF at client registration (default, strict settings).

#[tokio::test]
async fn ssrf_at_registration() {
    let base = Base::start(|_| {}).await;
    let register = |mode: &str, endpoint: &str| {
        Hostile::post("/admin/v1/clients").admin().json(&json!({
            "name": "Hostile Shop", "backchannel_token_delivery_mode": mode,
            "backchannel_client_notification_endpoint": endpoint}))
    };
    // The registration is valid but for its endpoint.
    for mode in ["ping", "push"] {
        let answer = send(&base.server, &register(mode, "https://client.example/cb")).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    let endpoints = [
        ("plain http", "http://client.example/cb"),
        (
            "credentials in the URL",
            "https://user:pass@client.example/cb",
        ),
        ("a user name in the URL", "https://admin@client.example/cb"),
        ("a fragment", "https://client.example/cb#x"),
        ("not a URL", "client.example/cb"),
        ("another scheme", "ftp://client.example/cb"),
        ("loopback", "https://127.0.0.1/cb"),
        ("loopback elsewhere in 127/8", "https://127.45.6.7:8443/cb"),
        ("loopback in short form", "https://127.1/cb"),
        ("IPv6 loopback", "https://[::1]/cb"),
        ("the unspecified address", "https://0.0.0.0/cb"),
        ("RFC 1918 10/8", "https://10.0.0.1/cb"),
        ("RFC 1918 172.16/12", "https://172.16.0.1/cb"),
        ("RFC 1918 192.168/16", "https://192.168.1.1/cb"),
        ("shared address space (CGNAT)", "https://100.64.0.1/cb"),
        (
            "link-local metadata 169.254.169.254",
            "https://169.254.169.254/latest/meta-data/",
        ),
        ("IPv6 link-local", "https://[fe80::1]/cb"),
        ("IPv6 unique local", "https://[fd00::1]/cb"),
        ("IPv4-mapped IPv6 loopback", "https://[::ffff:127.0.0.1]/cb"),
        (
            "IPv4-mapped IPv6 metadata",
            "https://[::ffff:169.254.169.254]/cb",
        ),
        ("IPv4-compatible IPv6", "https://[::10.0.0.1]/cb"),
        ("decimal IPv4", "https://2130706433/cb"),
        ("octal IPv4", "https://0177.0.0.1/cb"),
        ("hex IPv4", "https://0x7f000001/cb"),
        ("dotted hex IPv4", "https://0x7f.0.0.1/cb"),
        ("decimal metadata address", "https://2852039166/cb"),
        ("6to4 of loopback", "https://[2002:7f00:1::1]/cb"),
        (
            "6to4 of the metadata address",
            "https://[2002:a9fe:a9fe::1]/cb",
        ),
        (
            "SIIT IPv4-translated loopback",
            "https://[::ffff:0:7f00:1]/cb",
        ),
        ("NAT64 of 10.0.0.1", "https://[64:ff9b::a00:1]/cb"),
        (
            "Teredo of 10.0.0.1",
            "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/cb",
        ),
        ("multicast", "https://224.0.0.1/cb"),
        ("broadcast", "https://255.255.255.255/cb"),
    ];
    let mut rows: Vec<Row> = endpoints
        .iter()
        .map(|(name, endpoint)| {
            Row::new(
                format!("ping, {name}: {endpoint}"),
                register("ping", endpoint),
                refused(400, "invalid_client_metadata"),
            )
        })
        .collect();
    rows.push(Row::new(
        "push, loopback: https://127.0.0.1/cb",
        register("push", "https://127.0.0.1/cb"),
        refused(400, "invalid_client_metadata"),
    ));
    rows.push(Row::new(
        "push, link-local metadata: https://169.254.169.254/",
        register("push", "https://169.254.169.254/"),
        refused(400, "invalid_client_metadata"),
    ));
    run_table(&base, "SSRF at registration", rows, 0).await;
}

// ---------------------------------------------------------------------------------------------
// The admin API.

#[tokio::test]
async fn admin_api() {
    let base = Base::start(|_| {}).await;
    let alice = base.victim_id().to_owned();
    let device = base.account.device_id.clone();
    let new_user = json!({"username": "eve", "display_name": "Eve"});
    let create = || Hostile::post("/admin/v1/users").json(&new_user);
    let unauthorized = refused(401, "invalid_token").challenge(BEARER_CHALLENGE);
    let invalid_request = refused(400, "invalid_request");
    let token_prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let rows = vec![
        Row::new("no token", create(), unauthorized),
        Row::new(
            "wrong token",
            create().authorization("Bearer wrong-admin-token-0123456789"),
            unauthorized,
        ),
        Row::new(
            "the token with a suffix",
            create().authorization(format!("Bearer {ADMIN_TOKEN}0")),
            unauthorized,
        ),
        Row::new(
            "a prefix of the token",
            create().authorization(format!("Bearer {token_prefix}")),
            unauthorized,
        ),
        Row::new(
            "an empty bearer token",
            create().authorization("Bearer "),
            unauthorized,
        ),
        Row::new(
            "the token with the Basic scheme",
            create().authorization(basic("admin", ADMIN_TOKEN)),
            unauthorized,
        ),
        Row::new(
            "the token without a scheme",
            create().authorization(ADMIN_TOKEN),
            unauthorized,
        ),
        Row::new(
            "the token in the query",
            Hostile::post(&format!("/admin/v1/users?access_token={ADMIN_TOKEN}")).json(&new_user),
            unauthorized,
        ),
        Row::new(
            "the token in another header",
            create().header("x-admin-token", ADMIN_TOKEN),
            unauthorized,
        ),
        Row::new(
            "locking the victim without a token",
            Hostile::post(&format!("/admin/v1/users/{alice}/lock")),
            unauthorized,
        ),
        Row::new(
            "revoking the victim's device with a wrong token",
            Hostile::new(Method::DELETE, &format!("/admin/v1/devices/{device}"))
                .authorization("Bearer wrong-admin-token-0123456789"),
            unauthorized,
        ),
        Row::new(
            "an enrollment code for the victim without a token",
            Hostile::post(&format!("/admin/v1/users/{alice}/enrollments")),
            unauthorized,
        ),
        Row::new(
            "deleting the victim without a token",
            Hostile::new(Method::DELETE, &format!("/admin/v1/users/{alice}")),
            unauthorized,
        ),
        Row::new(
            "reading the audit log without a token",
            Hostile::get("/admin/v1/audit"),
            unauthorized,
        ),
        Row::new(
            "a client registration without a token",
            Hostile::post("/admin/v1/clients")
                .json(&json!({"name": "Rogue", "backchannel_token_delivery_mode": "poll"})),
            unauthorized,
        ),
        Row::new(
            "malformed JSON",
            Hostile::post("/admin/v1/users")
                .admin()
                .raw("application/json", r#"{"username": "eve""#),
            invalid_request,
        ),
        Row::new(
            "a field of the wrong type",
            Hostile::post("/admin/v1/users")
                .admin()
                .json(&json!({"username": ["eve", "alice"]})),
            invalid_request,
        ),
        Row::new(
            "a JSON body labelled text/plain",
            Hostile::post("/admin/v1/users")
                .admin()
                .raw("text/plain", new_user.to_string()),
            invalid_request,
        ),
        Row::new(
            "an unknown user field (status)",
            Hostile::post("/admin/v1/users")
                .admin()
                .json(&json!({"username": "eve", "status": "active", "subject": "chosen-subject"})),
            invalid_request,
        ),
        Row::new(
            "an unknown client field (a chosen secret)",
            Hostile::post("/admin/v1/clients").admin().json(&json!({
                "name": "Rogue", "backchannel_token_delivery_mode": "poll",
                "client_id": "chosen-id", "client_secret": "chosen-secret"})),
            invalid_request,
        ),
        Row::new(
            "a username with an escape sequence",
            Hostile::post("/admin/v1/users")
                .admin()
                .json(&json!({"username": "eve\u{1b}[2J"})),
            invalid_request,
        ),
        Row::new(
            "a client name with a control character",
            Hostile::post("/admin/v1/clients").admin().json(&json!({
                "name": "Rogue\u{7}Bank", "backchannel_token_delivery_mode": "poll"})),
            refused(400, "invalid_client_metadata"),
        ),
        Row::new(
            "a client registered for auth method none",
            Hostile::post("/admin/v1/clients").admin().json(&json!({
                "name": "Rogue", "backchannel_token_delivery_mode": "poll",
                "token_endpoint_auth_method": "none"})),
            refused(400, "invalid_client_metadata"),
        ),
    ];
    run_table(&base, "admin API", rows, 0).await;

    // The base requests work with the token.
    let answer = send(&base.server, &create().admin()).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let answer = send(
        &base.server,
        &Hostile::post("/admin/v1/clients")
            .admin()
            .json(&json!({"name": "Rogue", "backchannel_token_delivery_mode": "poll"})),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

// ---------------------------------------------------------------------------------------------
// Limits: the per-user pending limit (the default 5) and the per-client rate (lowered here).

#[tokio::test]
async fn limits() {
    // The documented default: five pending requests per user.
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let c = server.create_client(json!({})).await;
    let o = server.create_client(json!({"name": "Other Shop"})).await;
    let mut pending = Vec::new();
    for _ in 0..5 {
        pending.push(base.victim_request(&c).await);
    }
    let bc = |client: &TestClient, hint: &str| {
        Hostile::post("/backchannel/authenticate")
            .authorization(basic(&client.id, &client.secret))
            .form(&[("scope", "openid"), ("login_hint", hint)])
    };
    let at_limit = refused(429, "too_many_pending_requests").audited(&["ciba_request_refused"]);
    let rows = vec![
        Row::new("a sixth pending request", bc(&c, VICTIM), at_limit),
        Row::new(
            "a sixth pending request from another client",
            bc(&o, VICTIM),
            at_limit,
        ),
        Row::new(
            "a sixth pending request by email",
            bc(&c, VICTIM_EMAIL),
            at_limit,
        ),
    ];
    let mut count = run_table(&base, "limits (pending per user)", rows, 1).await;
    // Once the user decides one, there is room again.
    let (auth_req_id, txn) = pending.remove(0);
    base.sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    assert_eq!(server.poll(&c, &auth_req_id).await.status, 200);
    base.full_flow(&o).await;

    // The per-client rate, lowered to 3 a second (no pending limit, so only the rate counts).
    let base = Base::start(|s| {
        s.ciba.client_requests_per_second = 3;
        s.ciba.max_pending_requests_per_user = 0;
    })
    .await;
    let server = &base.server;
    let c = server.create_client(json!({})).await;
    let o = server.create_client(json!({"name": "Other Shop"})).await;
    for _ in 0..3 {
        base.victim_request(&c).await;
    }
    let slow_down = refused(429, "slow_down").retry_after("1");
    let rows = vec![
        Row::new("a fourth request in one second", bc(&c, VICTIM), slow_down),
        Row::new(
            "a fifth request in that second, itself malformed",
            Hostile::post("/backchannel/authenticate")
                .authorization(basic(&c.id, &c.secret))
                .form(&[("login_hint", VICTIM)]),
            slow_down,
        ),
    ];
    count += run_table(&base, "limits (client rate)", rows, 0).await;
    assert_eq!(count, 5);
    // Per client: another client is not slowed down; the next second the client is served.
    base.victim_request(&o).await;
    server.clock.advance(1);
    base.full_flow(&c).await;
}

// ---------------------------------------------------------------------------------------------
// No personal data in wake-ups.

#[tokio::test]
async fn wake_ups_carry_no_personal_data() {
    let mocks = PushMocks::start().await;
    let server = TestServer::start_with(|s| mocks.configure(s)).await;
    let (status, user) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(
                json!({"username": "alice.martin", "email": "alice.martin@bank.example",
                        "phone": "+33612345678", "display_name": "Alice Martin"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let user_id = user["id"].as_str().unwrap();
    let fcm = PushRegistration {
        provider: PushProvider::Fcm,
        token: Some("fcm-registration-1".into()),
        environment: PushEnvironment::Production,
    };
    let apns = PushRegistration {
        provider: PushProvider::Apns,
        token: Some("a1b2c3d4e5f60718".into()),
        environment: PushEnvironment::Production,
    };
    let (sdk, _) = server.enroll_device(user_id, fcm).await;
    server.enroll_device(user_id, apns).await;
    let client = server
        .create_client(json!({"name": "Mallory Payments Ltd"}))
        .await;
    let details = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"4711.93"},"creditorName":"Hans Gruber","creditorAccount":{"iban":"DE89370400440532013000"}}]"#;
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid accounts payments"),
                ("login_hint", "alice.martin@bank.example"),
                ("binding_message", "Pay 4711.93 EUR"),
                ("authorization_details", details),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let txn = sdk.pending().await.unwrap().remove(0).view.id;
    let fcm_sent = mocks.fcm.messages.wait_for(1).await;
    let apns_sent = mocks.apns.log.wait_for(1).await;

    // What must not reach Google or Apple: the request's content, the user, the client.
    let secrets = [
        "Pay 4711.93 EUR",
        "4711.93",
        "accounts",
        "payments",
        "openid",
        "payment_initiation",
        "Hans Gruber",
        "DE89370400440532013000",
        "alice.martin",
        "+33612345678",
        "Alice Martin",
        user["subject"].as_str().unwrap(),
        user_id,
        &client.id,
        "Mallory",
    ];
    let rows: [(&str, &ciba_e2e::mock_push::Recorded, Value); 2] = [
        (
            "FCM data message",
            &fcm_sent[0],
            fcm_sent[0].json()["message"]["data"].clone(),
        ),
        (
            "APNs custom key",
            &apns_sent[0],
            apns_sent[0].json()["ciba"].clone(),
        ),
    ];
    for (name, sent, payload) in rows {
        assert_eq!(
            payload,
            json!({"v": "1", "iss": server.issuer, "txn": txn}),
            "{name}: only v, iss and txn"
        );
        let mut everything = sent.text();
        for (header, value) in &sent.headers {
            everything.push_str(&format!("\n{header}: {}", value.to_str().unwrap_or("")));
        }
        for secret in secrets {
            assert!(
                !everything.contains(secret),
                "{name}: {secret:?} leaked to the push provider: {everything}"
            );
        }
    }
    // The APNs alert is a generic, localised one.
    assert_eq!(
        apns_sent[0].json()["aps"]["alert"],
        json!({"title-loc-key": "CIBA_REQUEST_TITLE", "loc-key": "CIBA_REQUEST_BODY"})
    );
    eprintln!("hostile table: wake-ups: 2 rows");
}

#[tokio::test]
async fn token_lifecycle_endpoints() {
    let base = Base::start(|_| {}).await;
    let server = &base.server;
    let grants = json!({"grant_types": [CIBA_GRANT, "refresh_token"]});
    let c = server.create_client(grants.clone()).await;
    let o = server.create_client(grants).await;
    let plain = server
        .create_client(json!({"name": "No Refresh Shop"}))
        .await;
    let mine = base.full_flow(&c).await;
    let others = base.full_flow(&o).await;
    let my_rt = mine["refresh_token"].as_str().unwrap().to_owned();
    let others_rt = others["refresh_token"].as_str().unwrap().to_owned();
    let others_at = others["access_token"].as_str().unwrap().to_owned();
    let (status, issued) = server
        .admin(
            Method::POST,
            "/admin/v1/initial-access-tokens",
            Some(json!({"max_uses": 1})),
        )
        .await;
    assert_eq!(status, 201);
    let iat = issued["initial_access_token"].as_str().unwrap().to_owned();

    let at = |path: &str, client: &TestClient, params: &[(&str, &str)]| {
        Hostile::post(path)
            .authorization(basic(&client.id, &client.secret))
            .form(params)
    };
    let refresh = |client: &TestClient, token: &str| {
        at(
            "/token",
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
    };
    let register = |token: Option<&str>, metadata: Value| {
        let request = Hostile::post("/register").json(&metadata);
        match token {
            Some(token) => request.authorization(format!("Bearer {token}")),
            None => request,
        }
    };
    let metadata =
        json!({"client_name": "Self-registered", "backchannel_token_delivery_mode": "poll"});
    let with = |field: &str, value: Value| {
        let mut m = metadata.clone();
        m[field] = value;
        m
    };
    let long = "A".repeat(300);
    let invalid_grant = refused(400, "invalid_grant");
    let invalid_client = refused(401, "invalid_client").challenge(BASIC_CHALLENGE);
    let invalid_token =
        refused(401, "invalid_token").challenge("Bearer realm=\"ciba\", error=\"invalid_token\"");
    let bad_metadata = refused(400, "invalid_client_metadata");
    let rows = vec![
        Row::new(
            "refresh with another client's refresh token",
            refresh(&c, &others_rt),
            invalid_grant,
        ),
        Row::new(
            "refresh with a made-up token",
            refresh(&c, "made-up"),
            invalid_grant,
        ),
        Row::new(
            "refresh with an over-long token",
            refresh(&c, &long),
            invalid_grant,
        ),
        Row::new(
            "refresh with an access token",
            refresh(&c, mine["access_token"].as_str().unwrap()),
            invalid_grant,
        ),
        Row::new(
            "refresh widening the scope",
            at(
                "/token",
                &c,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &my_rt),
                    ("scope", "openid payments"),
                ],
            ),
            refused(400, "invalid_scope"),
        ),
        Row::new(
            "refresh without refresh_token",
            at("/token", &c, &[("grant_type", "refresh_token")]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "refresh with refresh_token twice",
            at(
                "/token",
                &c,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &my_rt),
                    ("refresh_token", &my_rt),
                ],
            ),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "refresh by a client without the grant",
            refresh(&plain, &my_rt),
            refused(400, "unauthorized_client"),
        ),
        Row::new(
            "refresh with a wrong secret",
            Hostile::post("/token")
                .authorization(basic(&c.id, "wrong"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &my_rt)]),
            invalid_client,
        ),
        Row::new(
            "introspection without client authentication",
            Hostile::post("/introspect").form(&[("token", &others_at)]),
            invalid_client,
        ),
        Row::new(
            "introspection without token",
            at("/introspect", &c, &[]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "introspection with token twice",
            at("/introspect", &c, &[("token", &others_at), ("token", "x")]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "introspection as JSON",
            Hostile::post("/introspect")
                .authorization(basic(&c.id, &c.secret))
                .json(&json!({"token": others_at})),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "revoking another client's refresh token",
            at("/revoke", &c, &[("token", &others_rt)]),
            refused(400, "unauthorized_client"),
        ),
        Row::new(
            "revoking another client's access token",
            at("/revoke", &c, &[("token", &others_at)]),
            refused(400, "unauthorized_client"),
        ),
        Row::new(
            "revocation without client authentication",
            Hostile::post("/revoke").form(&[("token", &others_rt)]),
            invalid_client,
        ),
        Row::new(
            "revocation without token",
            at("/revoke", &c, &[("token_type_hint", "refresh_token")]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "registration without a token",
            register(None, metadata.clone()),
            invalid_token,
        ),
        Row::new(
            "registration with a made-up token",
            register(Some("made-up"), metadata.clone()),
            invalid_token,
        ),
        Row::new(
            "registration with a made-up token and a form body",
            Hostile::post("/register")
                .authorization("Bearer made-up")
                .form(&[("client_name", "X")]),
            invalid_token,
        ),
        Row::new(
            "registration with the admin token",
            register(Some(ADMIN_TOKEN), metadata.clone()),
            invalid_token,
        ),
        Row::new(
            "registration with an unknown delivery mode",
            register(
                Some(&iat),
                with("backchannel_token_delivery_mode", json!("carrier-pigeon")),
            ),
            bad_metadata,
        ),
        Row::new(
            "registration of a ping endpoint on loopback",
            register(
                Some(&iat),
                with("backchannel_token_delivery_mode", json!("ping"))
                    .as_object()
                    .map(|m| {
                        let mut m = m.clone();
                        m.insert(
                            "backchannel_client_notification_endpoint".into(),
                            json!("https://127.0.0.1/cb"),
                        );
                        Value::Object(m)
                    })
                    .unwrap(),
            ),
            bad_metadata,
        ),
        Row::new(
            "registration of a name with a bidi override",
            register(Some(&iat), with("client_name", json!("Bank\u{202e}evil"))),
            bad_metadata,
        ),
        Row::new(
            "registration with client_name and name",
            register(Some(&iat), with("name", json!("Other"))),
            bad_metadata,
        ),
        Row::new(
            "registration of the refresh grant alone",
            register(Some(&iat), with("grant_types", json!(["refresh_token"]))),
            bad_metadata,
        ),
        Row::new(
            "registration of an HS256 ID token",
            register(
                Some(&iat),
                with("id_token_signed_response_alg", json!("HS256")),
            ),
            bad_metadata,
        ),
        Row::new(
            "registration with a form body",
            Hostile::post("/register")
                .authorization(format!("Bearer {iat}"))
                .form(&[("client_name", "X")]),
            bad_metadata,
        ),
        Row::new(
            "registration with a JSON array",
            Hostile::post("/register")
                .authorization(format!("Bearer {iat}"))
                .raw("application/json", "[1, 2]"),
            bad_metadata,
        ),
        Row::new(
            "reading an admin client's registration",
            Hostile::get(&format!("/register/{}", c.id)).authorization(format!("Bearer {iat}")),
            invalid_token,
        ),
        Row::new(
            "an initial access token that never expires",
            Hostile::post("/admin/v1/initial-access-tokens")
                .admin()
                .json(&json!({"expires_in": 0})),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "an initial access token with negative uses",
            Hostile::post("/admin/v1/initial-access-tokens")
                .admin()
                .json(&json!({"max_uses": -1})),
            refused(400, "invalid_request"),
        ),
    ];
    let n = run_table(&base, "token lifecycle", rows, 1).await;
    assert!(n >= 30);

    // The refusals changed nothing: each token still works, once, and the single-use initial
    // access token still registers a client.
    for (client, token) in [(&c, &my_rt), (&o, &others_rt)] {
        let answer = server
            .oauth_post(
                "/token",
                client,
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let answer = server
        .oauth_post("/introspect", &o, &[("token", &others_at)])
        .await;
    assert_eq!(answer.body["active"], true, "{}", answer.body);
    let response = server
        .http
        .post(server.url("/register"))
        .bearer_auth(&iat)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn console_sessions() {
    let base = Base::start(|_| {}).await;
    let alice = base.victim_id().to_owned();
    let device = base.account.device_id.clone();
    // Two real sessions: the attacker holds the second one's CSRF token, never the first's.
    let (cookie, csrf, _) = base.server.console_session().await;
    let (_, other_csrf, _) = base.server.console_session().await;
    let value = cookie.split_once('=').unwrap().1.to_owned();
    let new_user = json!({"username": "eve"});
    let create = || Hostile::post("/admin/v1/users").json(&new_user);
    let lock = || Hostile::post(&format!("/admin/v1/users/{alice}/lock"));
    let sign_in = |body: Value| Hostile::post("/console/session").json(&body);
    let unauthorized = refused(401, "invalid_token").challenge(BEARER_CHALLENGE);
    let bad_csrf = refused(403, "invalid_csrf_token");
    let rows = vec![
        Row::new(
            "sign-in with a wrong token",
            sign_in(json!({"admin_token": "wrong-admin-token-0123456789"})),
            unauthorized.audited(&["console_sign_in_failed"]),
        ),
        Row::new(
            "sign-in with a prefix of the token",
            sign_in(json!({"admin_token": &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]})),
            unauthorized.audited(&["console_sign_in_failed"]),
        ),
        Row::new(
            "sign-in with the token as a form (a cross-site form post)",
            Hostile::post("/console/session").form(&[("admin_token", ADMIN_TOKEN)]),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "sign-in as JSON labelled text/plain (no CORS preflight)",
            Hostile::post("/console/session").raw(
                "text/plain",
                json!({"admin_token": ADMIN_TOKEN}).to_string(),
            ),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "sign-in with an extra field (a chosen session)",
            sign_in(json!({"admin_token": ADMIN_TOKEN, "session": "chosen"})),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "a change with the session but no CSRF token",
            create().header("cookie", &cookie),
            bad_csrf,
        ),
        Row::new(
            "a change with another session's CSRF token",
            create()
                .header("cookie", &cookie)
                .header("x-csrf-token", &other_csrf),
            bad_csrf,
        ),
        Row::new(
            "locking the victim with the session but no CSRF token",
            lock().header("cookie", &cookie),
            bad_csrf,
        ),
        Row::new(
            "revoking the victim's device with an empty CSRF token",
            Hostile::new(Method::DELETE, &format!("/admin/v1/devices/{device}"))
                .header("cookie", &cookie)
                .header("x-csrf-token", ""),
            bad_csrf,
        ),
        Row::new(
            "the CSRF token alone, no session",
            lock().header("x-csrf-token", &csrf),
            unauthorized,
        ),
        Row::new(
            "a made-up session cookie",
            lock()
                .header("cookie", "ciba_console=made-up-session-0123456789abcdef")
                .header("x-csrf-token", &csrf),
            unauthorized,
        ),
        Row::new(
            "the session under the __Host- name on an http issuer",
            lock()
                .header("cookie", format!("__Host-ciba_console={value}"))
                .header("x-csrf-token", &csrf),
            unauthorized,
        ),
        Row::new(
            "the session cookie as a bearer token",
            lock()
                .authorization(format!("Bearer {value}"))
                .header("x-csrf-token", &csrf),
            unauthorized,
        ),
        Row::new(
            "the CSRF token as a bearer token",
            lock().authorization(format!("Bearer {csrf}")),
            unauthorized,
        ),
        Row::new(
            "signing out the session without its CSRF token",
            Hostile::new(Method::DELETE, "/console/session").header("cookie", &cookie),
            bad_csrf,
        ),
        Row::new(
            "the session's CSRF token from a made-up session",
            Hostile::get("/console/session").header("cookie", "ciba_console=made-up"),
            unauthorized,
        ),
        Row::new(
            "an overview stream every 0 seconds",
            Hostile::get("/admin/v1/overview/stream?interval=0").admin(),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "an audit page after a negative cursor",
            Hostile::get("/admin/v1/audit?cursor=-1").admin(),
            refused(400, "invalid_request"),
        ),
        Row::new(
            "an enrollment QR code in an unsupported format",
            Hostile::post(&format!("/admin/v1/users/{alice}/enrollments?qr=png")).admin(),
            refused(400, "invalid_request"),
        ),
    ];
    run_table(&base, "console sessions", rows, 0).await;

    // The base requests work with the session and its token.
    let answer = send(
        &base.server,
        &create()
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let answer = send(
        &base.server,
        &lock()
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
