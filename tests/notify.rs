//! Ping and push delivery to real receivers on loopback.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use ciba_core::protocol::{DecisionStatus, DenyReason};
use ciba_e2e::*;
use reqwest::Method;
use serde_json::{Value, json};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
}

/// A client's notification endpoint: records every request, answers from a script of statuses
/// (then 204). A 301 answer points at `/elsewhere`; 0 never answers.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let get = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        authorization: get(header::AUTHORIZATION),
        content_type: get(header::CONTENT_TYPE),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let status = state.script.lock().unwrap().pop_front().unwrap_or(204);
    if status == 0 {
        // Scripted "never answer": hold the request until the caller gives up or dies.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if status == 301 {
        response
            .headers_mut()
            .insert(header::LOCATION, "/elsewhere".parse().unwrap());
    }
    response
}

impl Receiver {
    /// A receiver on a fresh port.
    pub async fn start(script: &[u16]) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), script).await
    }

    /// A receiver on a given address.
    pub async fn start_on(addr: SocketAddr, script: &[u16]) -> Self {
        let state = Arc::new(ReceiverState::default());
        state.script.lock().unwrap().extend(script);
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/ciba/callback", self.addr)
    }

    /// What it got so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s of real time) until it got `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let what = format!("the receiver gets {n} requests");
        eventually(&what, || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Stops listening.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// A server for loopback receivers: plain http and private addresses allowed (the development
/// setting), and a fast worker.
pub async fn dev_server() -> TestServer {
    TestServer::start_with(|s| {
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 20;
    })
    .await
}

/// [`dev_server`] without background workers: the test drives the notification rounds.
pub async fn manual_dev_server() -> TestServer {
    TestServer::start_manual(|s| {
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
    })
    .await
}

pub async fn client_for(server: &TestServer, mode: &str, endpoint: &str) -> TestClient {
    server
        .create_client(json!({"backchannel_token_delivery_mode": mode, "backchannel_client_notification_endpoint": endpoint}))
        .await
}

pub async fn start(server: &TestServer, client: &TestClient, user: &str, token: &str) -> String {
    let answer = server
        .backchannel(
            client,
            &[
                ("scope", "openid accounts"),
                ("login_hint", user),
                ("client_notification_token", token),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["auth_req_id"].as_str().unwrap().to_owned()
}

/// Gives the worker some real time, to show that nothing more arrives.
pub async fn settle(server: &TestServer) {
    for _ in 0..5 {
        server.clock.advance(400);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[tokio::test]
async fn ping_after_approval_and_after_denial() {
    let server = dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let (_user, sdk, _account) = server.user_with_device("alice").await;
    let client = client_for(&server, "ping", &receiver.url()).await;

    let first = start(&server, &client, "alice", "ping-token-1").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        sdk.approve(&txn, vec!["swk".into()]).await.unwrap(),
        DecisionStatus::Approved
    );
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].path, "/ciba/callback");
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer ping-token-1"));
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        got[0].body,
        json!({ "auth_req_id": first }),
        "exactly the auth_req_id"
    );
    // A ping client then fetches its tokens at the token endpoint.
    assert_eq!(server.poll(&client, &first).await.status, 200);

    server.clock.advance(1);
    let second = start(&server, &client, "alice", "ping-token-2").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.deny(&txn, DenyReason::UserDeclined).await.unwrap();
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].authorization.as_deref(), Some("Bearer ping-token-2"));
    assert_eq!(got[1].body, json!({ "auth_req_id": second }));
    assert_eq!(server.poll(&client, &second).await.error(), "access_denied");
    settle(&server).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "each notification is sent once"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ciba_notifications_sent_total{kind=\"ping\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn push_delivers_tokens_with_the_ciba_claims_and_errors_for_denial_and_expiry() {
    let server = dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let (user, sdk, _account) = server.user_with_device("bob").await;
    let client = client_for(&server, "push", &receiver.url()).await;

    let auth_req_id = start(&server, &client, "bob", "push-token").await;
    // Push clients do not poll.
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "unauthorized_client")
    );
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["hwk".into(), "face".into()])
        .await
        .unwrap();
    let got = receiver.wait_for(1).await;
    let body = &got[0].body;
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer push-token"));
    assert_eq!(body["auth_req_id"], auth_req_id.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert!(body.get("refresh_token").is_none());
    let access_token = body["access_token"].as_str().unwrap();
    let id =
        crate::flows::verify_with_jwks(&server, body["id_token"].as_str().unwrap(), &client.id)
            .await;
    assert_eq!(id["sub"], user["subject"]);
    assert_eq!(
        id["urn:openid:params:jwt:claim:auth_req_id"],
        auth_req_id.as_str()
    );
    let at_hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&sha2::Sha256::digest(access_token.as_bytes())[..16])
    };
    assert_eq!(id["at_hash"], at_hash);
    assert!(
        id.get("urn:openid:params:jwt:claim:rt_hash").is_none(),
        "no refresh token, no rt_hash"
    );
    crate::flows::verify_with_jwks(&server, access_token, &server.issuer).await;

    // Denial is pushed as an error.
    server.clock.advance(1);
    let denied = start(&server, &client, "bob", "push-token").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.deny(&txn, DenyReason::UserDeclined).await.unwrap();
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].body["auth_req_id"], denied.as_str());
    assert_eq!(got[1].body["error"], "access_denied");

    // Expiry too.
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("login_hint", "bob"),
                ("client_notification_token", "push-token"),
                ("requested_expiry", "30"),
            ],
        )
        .await;
    let expiring = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    server.clock.advance(31);
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2].body["auth_req_id"], expiring.as_str());
    assert_eq!(got[2].body["error"], "expired_token");
    settle(&server).await;
    assert_eq!(receiver.received().len(), 3);
}

/// A push-mode request of `user` that expires in 30 seconds.
async fn expiring_in_30(server: &TestServer, client: &TestClient, user: &str) -> String {
    let answer = server
        .backchannel(
            client,
            &[
                ("scope", "openid"),
                ("login_hint", user),
                ("client_notification_token", "push-token"),
                ("requested_expiry", "30"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["auth_req_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn expiry_scans_start_where_the_last_one_ended() {
    // Driven round by round. Each scan for expired push-mode requests starts a little before the
    // previous one (not at the oldest expired row the sweep keeps): a gap between scans longer
    // than the retry window still finds what expired in it, once; the first scan of a process
    // looks back one retry window (600 s here).
    let server = manual_dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let _device = server.user_with_device("erin").await;
    let client = client_for(&server, "push", &receiver.url()).await;

    let long_gone = expiring_in_30(&server, &client, "erin").await;
    server.clock.advance(31 + 600 + 1);
    assert_eq!(server.work_client_notifications().await, 0);
    assert!(
        receiver.received().is_empty(),
        "expired before the window of the first scan"
    );

    let within = expiring_in_30(&server, &client, "erin").await;
    server.clock.advance(3600);
    assert_eq!(server.work_client_notifications().await, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["auth_req_id"], within.as_str());
    assert_eq!(got[0].body["error"], "expired_token");
    assert_ne!(got[0].body["auth_req_id"], long_gone.as_str());

    // Told once: later scans (their windows overlap the last one) find nothing more.
    for _ in 0..3 {
        server.clock.advance(1);
        assert_eq!(server.work_client_notifications().await, 0);
    }
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered_once() {
    // The worker is driven round by round on the server's clock: nothing to wait for.
    let server = manual_dev_server().await;
    let receiver = Receiver::start(&[500, 503]).await;
    let (_user, sdk, _account) = server.user_with_device("carol").await;
    let client = client_for(&server, "push", &receiver.url()).await;
    start(&server, &client, "carol", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    assert_eq!(server.work_client_notifications().await, 1);
    assert_eq!(receiver.received().len(), 1);
    // Backoff is measured on the server's clock: nothing is retried until it moves.
    assert_eq!(server.work_client_notifications().await, 0);
    assert_eq!(receiver.received().len(), 1);
    server.clock.advance(2);
    assert_eq!(server.work_client_notifications().await, 1);
    assert_eq!(receiver.received().len(), 2);
    server.clock.advance(4);
    assert_eq!(server.work_client_notifications().await, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    // The same tokens every time: minted once.
    assert_eq!(got[0].body, got[2].body);
    for _ in 0..5 {
        server.clock.advance(400);
        assert_eq!(server.work_client_notifications().await, 0);
    }
    assert_eq!(receiver.received().len(), 3, "delivered once, then no more");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ciba_notifications_retried_total{kind=\"push\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ciba_notifications_sent_total{kind=\"push\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn refusals_and_redirects_are_final_and_recorded() {
    for status in [401u16, 403, 301] {
        // Driven round by round: one attempt, then rounds long after find nothing to retry.
        let server = manual_dev_server().await;
        let receiver = Receiver::start(&[status]).await;
        let (user, sdk, _account) = server.user_with_device("dave").await;
        let client = client_for(&server, "ping", &receiver.url()).await;
        start(&server, &client, "dave", "tok").await;
        let txn = sdk.pending().await.unwrap().remove(0);
        sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
        assert_eq!(server.work_client_notifications().await, 1);
        for _ in 0..5 {
            server.clock.advance(400);
            assert_eq!(server.work_client_notifications().await, 0, "{status}");
        }
        let got = receiver.received();
        assert_eq!(
            got.len(),
            1,
            "{status}: not retried, redirect not followed: {got:?}"
        );
        let (_, audit) = server
            .admin(
                Method::GET,
                &format!("/admin/v1/audit?user_id={}", user["id"].as_str().unwrap()),
                None,
            )
            .await;
        let failed = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "notification_failed");
        let failed =
            failed.unwrap_or_else(|| panic!("{status}: no notification_failed in {audit}"));
        assert!(
            failed["detail"]["error"]
                .as_str()
                .unwrap()
                .contains(&status.to_string()),
            "{failed}"
        );
    }
}

#[tokio::test]
async fn a_receiver_down_across_a_server_restart_still_gets_its_notification() {
    let mut server = dev_server().await;
    // Reserve a port, then leave it closed: the receiver is down.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (_user, sdk, _account) = server.user_with_device("erin").await;
    let client = client_for(&server, "ping", &format!("http://{addr}/ciba/callback")).await;
    let auth_req_id = start(&server, &client, "erin", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.restart().await;
    let receiver = Receiver::start_on(addr, &[]).await;
    server.clock.advance(5);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].body, json!({ "auth_req_id": auth_req_id }));
    settle(&server).await;
    assert_eq!(receiver.received().len(), 1);
    receiver.stop();
}

#[tokio::test]
async fn endpoints_on_private_networks_are_refused() {
    // Production defaults: https only, no private addresses.
    let server = TestServer::start_with(|s| s.notifications.worker_interval_ms = 20).await;
    for endpoint in [
        "https://127.0.0.1/cb",
        "https://10.0.0.8/cb",
        "https://[::ffff:169.254.169.254]/cb",
        "http://client.example/cb",
        "https://u:p@client.example/cb",
    ] {
        let (status, body) = server
            .admin(Method::POST, "/admin/v1/clients", Some(json!({"name": "x", "backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": endpoint})))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{endpoint}"
        );
    }
    let (status, _) = server
        .admin(
            Method::POST,
            "/admin/v1/clients",
            Some(json!({"name": "x", "backchannel_token_delivery_mode": "ping"})),
        )
        .await;
    assert_eq!(status, 400, "ping clients need an endpoint");

    // A name is accepted at registration, but it resolves to loopback at send time: refused.
    let receiver = Receiver::start(&[]).await;
    let (user, sdk, _account) = server.user_with_device("frank").await;
    let client = client_for(
        &server,
        "ping",
        &format!("https://localhost:{}/cb", receiver.addr.port()),
    )
    .await;
    start(&server, &client, "frank", "tok").await;
    // Poll clients may not send a notification token, ping clients must.
    let answer = server
        .backchannel(&client, &[("scope", "openid"), ("login_hint", "frank")])
        .await;
    assert_eq!(answer.error(), "invalid_request");
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("login_hint", "frank"),
                ("client_notification_token", "not a token"),
            ],
        )
        .await;
    assert_eq!(answer.error(), "invalid_request");
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let id = user["id"].as_str().unwrap();
    let failed = eventually("the notification is refused and recorded", || async {
        let (_, audit) = server
            .admin(Method::GET, &format!("/admin/v1/audit?user_id={id}"), None)
            .await;
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "notification_failed")
            .cloned()
    })
    .await;
    assert!(
        failed["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("non-public address"),
        "{failed}"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn https_endpoints_with_a_trusted_test_ca_and_refused_without_it() {
    let receiver = Receiver::start(&[]).await;
    let mut front = TlsFront::bind().await;
    front.forward_to(receiver.addr);
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, &front.ca_pem).unwrap();
    let endpoint = format!("https://localhost:{}/ciba/callback", front.port);

    // https only (no plain-http switch); loopback allowed because the receiver is local.
    let trusting = TestServer::start_with(|s| {
        s.notifications.allow_private_networks = true;
        s.notifications.extra_root_certificates = vec![ca_file.clone()];
        s.notifications.worker_interval_ms = 20;
    })
    .await;
    let (_user, sdk, _account) = trusting.user_with_device("alice").await;
    let client = client_for(&trusting, "ping", &endpoint).await;
    let auth_req_id = start(&trusting, &client, "alice", "tls-token").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer tls-token"));
    assert_eq!(got[0].body, json!({ "auth_req_id": auth_req_id }));

    // A server that does not trust the test CA never completes the handshake.
    let strict = TestServer::start_with(|s| {
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 20;
    })
    .await;
    let (_user, sdk, _account) = strict.user_with_device("bob").await;
    let client = client_for(&strict, "ping", &endpoint).await;
    start(&strict, &client, "bob", "tls-token").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    eventually(
        "the failed handshake is counted and retried later",
        || async {
            let metrics = strict.metrics().await;
            metrics
                .contains("ciba_notifications_retried_total{kind=\"ping\"} 1")
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing reached the receiver without a trusted certificate"
    );
}

#[tokio::test]
async fn the_clear_auth_req_id_is_forgotten_once_nothing_more_will_be_sent() {
    let server = dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let (_user, sdk, _account) = server.user_with_device("gina").await;
    let client = client_for(&server, "ping", &receiver.url()).await;
    let store = server.store();

    // Decided: kept until the ping has gone out, then forgotten.
    start(&server, &client, "gina", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    assert!(
        store
            .request(&txn.view.id)
            .await
            .unwrap()
            .unwrap()
            .notify_auth_req_id
            .is_some()
    );
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    receiver.wait_for(1).await;
    eventually("cleared when the notification ended", || async {
        store
            .request(&txn.view.id)
            .await
            .unwrap()
            .unwrap()
            .notify_auth_req_id
            .is_none()
            .then_some(())
    })
    .await;

    // Undecided and expired: nothing will be sent, the sweep forgets it.
    server.clock.advance(1);
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("login_hint", "gina"),
                ("client_notification_token", "tok"),
                ("requested_expiry", "30"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let txn = sdk.pending().await.unwrap().remove(0);
    use ciba_core::clock::Clock;
    server.clock.advance(31);
    let now = server.clock.now();
    store.sweep(now, now - 86_400).await.unwrap();
    assert!(
        store
            .request(&txn.view.id)
            .await
            .unwrap()
            .unwrap()
            .notify_auth_req_id
            .is_none()
    );
}
