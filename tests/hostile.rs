//! What the attack review found (issue 14), one test per finding, each failing on the code
//! before the fix: fraud locks cancel everything pending, push bombing is limited, `amr` states
//! what the server verified, slow clients cannot hold connections, DPoP replays are refused to
//! the far edge of the window, no database write for unknown callers, unverified attestation is
//! not recorded as verified, push-mode tokens do not stay at rest.

use std::time::Duration;

use ciba_core::clock::Clock;
use ciba_core::jose::software::{SoftwareSigner, random_b64u};
use ciba_core::protocol::{DenyReason, PushRegistration};
use ciba_e2e::*;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::notify::{Receiver, client_for, manual_dev_server, start};

#[tokio::test]
async fn a_fraud_report_cancels_every_pending_request_of_the_user_and_tells_their_clients() {
    let server = manual_dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let (user, sdk, _account) = server.user_with_device("carol").await;
    let user_id = user["id"].as_str().unwrap();
    let poll = server.create_client(json!({})).await;
    let ping = client_for(&server, "ping", &receiver.url()).await;

    let reported = server.start_ciba(&poll, "carol").await;
    let other_poll = server.start_ciba(&poll, "carol").await;
    let other_ping = start(&server, &ping, "carol", "cb-token").await;
    let pending = sdk.pending().await.unwrap();
    assert_eq!(pending.len(), 3);
    let oldest = pending.last().unwrap().clone();
    sdk.deny(&oldest, DenyReason::NotRecognized).await.unwrap();

    // The reported request is denied; the others were withdrawn with the lock.
    assert_eq!(server.poll(&poll, &reported).await.error(), "access_denied");
    assert_eq!(
        server.poll(&poll, &other_poll).await.error(),
        "access_denied"
    );
    assert!(
        sdk.pending().await.unwrap().is_empty(),
        "nothing left to approve"
    );
    // An approval of a withdrawn request is refused.
    let withdrawn = pending
        .iter()
        .find(|t| t.view.id != oldest.view.id)
        .unwrap();
    assert!(sdk.approve(withdrawn, vec!["swk".into()]).await.is_err());
    // The ping client is told, and its poll answers access_denied.
    assert_eq!(server.work_client_notifications().await, 1);
    let pings = receiver.received();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].body["auth_req_id"], other_ping.as_str());
    assert_eq!(
        server.poll(&ping, &other_ping).await.error(),
        "access_denied"
    );

    // Unlocking does not bring the withdrawn requests back.
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{user_id}/unlock"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.poll(&poll, &other_poll).await.error(),
        "access_denied"
    );
    let locked = server
        .audit_events(user_id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "user_locked")
        .unwrap();
    assert_eq!(locked["detail"]["cancelled_requests"], 2, "{locked}");
}

#[tokio::test]
async fn an_administrator_lock_cancels_pending_requests_too() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("dora").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "dora").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{}/lock", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("locked")));
    assert!(sdk.approve(&txn, vec!["swk".into()]).await.is_err());
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "access_denied"
    );
}

/// Sends a backchannel request without the harness's `&self` borrow, for bursts.
async fn raw_backchannel(
    http: reqwest::Client,
    url: String,
    client: TestClient,
    hint: &'static str,
) -> (u16, Value, Option<String>) {
    let response = http
        .post(url)
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("scope", "openid"), ("login_hint", hint)])
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json_answer(response).await;
    (status, body, retry_after)
}

#[tokio::test]
async fn a_burst_of_requests_for_one_user_wakes_them_at_most_the_pending_limit() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("erin").await;
    let client = server.create_client(json!({})).await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..40 {
        burst.spawn(raw_backchannel(
            server.http.clone(),
            server.url("/backchannel/authenticate"),
            client.clone(),
            "erin",
        ));
    }
    let (mut accepted, mut refused) = (0, 0);
    while let Some(joined) = burst.join_next().await {
        let (status, body, _) = joined.unwrap();
        match status {
            200 => accepted += 1,
            429 => {
                assert_eq!(body["error"], "too_many_pending_requests", "{body}");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((accepted, refused), (5, 35));
    assert_eq!(sdk.pending().await.unwrap().len(), 5);
    assert!(
        server
            .metrics()
            .await
            .contains("ciba_requests_limited_total{reason=\"user_pending_limit\"} 35")
    );
    let refusals = server
        .audit_events(user["id"].as_str().unwrap())
        .await
        .into_iter()
        .filter(|e| e["kind"] == "ciba_request_refused")
        .count();
    assert_eq!(refusals, 35);
    // Once the pending ones expire, the user can be asked again.
    server.clock.advance(301);
    server.start_ciba(&client, "erin").await;
}

#[tokio::test]
async fn a_client_over_its_rate_is_told_to_slow_down() {
    let server = TestServer::start_with(|s| {
        s.ciba.client_requests_per_second = 3;
        s.ciba.max_pending_requests_per_user = 0;
    })
    .await;
    server.user_with_device("fay").await;
    let client = server.create_client(json!({})).await;
    for _ in 0..3 {
        server.start_ciba(&client, "fay").await;
    }
    let url = server.url("/backchannel/authenticate");
    let (status, body, retry_after) =
        raw_backchannel(server.http.clone(), url.clone(), client.clone(), "fay").await;
    assert_eq!((status, body["error"].as_str()), (429, Some("slow_down")));
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Another client is not affected; the next second, this one is not either.
    let other = server.create_client(json!({})).await;
    server.start_ciba(&other, "fay").await;
    server.clock.advance(1);
    server.start_ciba(&client, "fay").await;
    assert!(
        server
            .metrics()
            .await
            .contains("ciba_requests_limited_total{reason=\"client_rate_limit\"} 1")
    );
}

#[tokio::test]
async fn tokens_state_what_the_server_verified_not_what_the_app_claims() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("gus").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "gus").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    // A software key claiming a hardware key, a face scan and MFA.
    sdk.approve(&txn, vec!["hwk".into(), "face".into(), "mfa".into()])
        .await
        .unwrap();
    server.clock.advance(5);
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    for token in ["id_token", "access_token"] {
        let claims = jwt_claims(tokens.body[token].as_str().unwrap());
        assert_eq!(claims["amr"], json!(["swk"]), "{token}: {claims}");
    }
    // The claim is kept, as a claim.
    let decision = server
        .audit_events(user["id"].as_str().unwrap())
        .await
        .into_iter()
        .find(|e| e["kind"] == "decision")
        .unwrap();
    assert_eq!(
        decision["detail"]["claimed_amr"],
        json!(["hwk", "face", "mfa"])
    );
    assert_eq!(decision["detail"]["amr"], json!(["swk"]));
}

async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    got
}

#[tokio::test]
async fn slow_clients_cannot_hold_connections() {
    let server = TestServer::start_with(|s| {
        s.http.header_read_timeout_ms = 200;
        s.http.request_timeout_ms = 300;
    })
    .await;
    // A request head that never completes: closed.
    let mut slowloris = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slowloris
        .write_all(b"POST /token HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    closed_within(&mut slowloris, Duration::from_secs(5)).await;
    // A body that stops half-way: 408 in JSON, then closed.
    let mut slow_body = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slow_body
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
        )
        .await
        .unwrap();
    let answer =
        String::from_utf8(closed_within(&mut slow_body, Duration::from_secs(5)).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");

    // Connections beyond the limit are closed at once.
    let limited = TestServer::start_with(|s| s.http.max_connections = 2).await;
    let held = [
        tokio::net::TcpStream::connect(limited.addr())
            .await
            .unwrap(),
        tokio::net::TcpStream::connect(limited.addr())
            .await
            .unwrap(),
    ];
    // Give the server the time to accept both (they hold the two slots).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(limited.addr())
        .await
        .unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(5))
            .await
            .is_empty()
    );
    drop(held);
    let metrics = eventually("a slot is free again", || async {
        limited
            .http
            .get(limited.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    })
    .await;
    assert!(
        metrics.contains("ciba_connections_refused_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_dpop_proof_is_refused_again_to_the_far_edge_of_its_window() {
    let server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("hal").await;
    let signer = sdk.signer(&account.id).unwrap();
    let path = "/device/v1/transactions";
    let url = format!("{}{path}", server.issuer);
    let now = server.clock.now();
    // Dated 60 s ahead: accepted from now until now + 120.
    let proof =
        ciba_core::jose::dpop_proof(&signer, "GET", &url, now + 60, &random_b64u(16).unwrap())
            .unwrap();
    let (status, _) = device_call(&server, Method::GET, path, &proof, None).await;
    assert_eq!(status, 200);
    server.clock.advance(120);
    let (status, body) = device_call(&server, Method::GET, path, &proof, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
}

/// A DPoP proof by a fresh key nobody enrolled.
fn stranger_proof(server: &TestServer, method: &str, path: &str) -> String {
    let signer = SoftwareSigner::generate().unwrap();
    ciba_core::jose::dpop_proof(
        &signer,
        method,
        &format!("{}{path}", server.issuer),
        server.clock.now(),
        &random_b64u(16).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn callers_that_are_not_devices_write_nothing() {
    let server = TestServer::start().await;
    for _ in 0..100 {
        let path = "/device/v1/transactions";
        let proof = stranger_proof(&server, "GET", path);
        let (status, body) = device_call(&server, Method::GET, path, &proof, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unknown_device"))
        );
    }
    for _ in 0..50 {
        let path = "/device/v1/enrollments";
        let proof = stranger_proof(&server, "POST", path);
        let body = json!({"code": random_b64u(20).unwrap(), "push": {"provider": "none"},
                          "device": {"display_name": "x", "platform": "other"}});
        let (status, answer) = device_call(&server, Method::POST, path, &proof, Some(body)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_enrollment_code"))
        );
    }
    // Nothing reached the replay cache: a sweep long after finds no expired jti to remove.
    let later = server.clock.now() + 10_000;
    let swept = server.store().sweep(later, 0).await.unwrap();
    assert_eq!(swept.jtis, 0, "{swept:?}");
}

#[tokio::test]
async fn an_unverified_attestation_is_not_recorded_as_verified() {
    let server = TestServer::start().await;
    let user = server.create_user("ida").await;
    let user_id = user["id"].as_str().unwrap();
    let uri = server.enrollment_uri(user_id).await;
    let code = enrollment_code(&uri);
    let path = "/device/v1/enrollments";
    let proof = stranger_proof(&server, "POST", path);
    let body = json!({"code": code, "push": PushRegistration::none(),
                      "device": {"display_name": "Forged", "platform": "android"},
                      "attestation": {"format": "android-key", "data": "garbage"}});
    let (status, answer) = device_call(&server, Method::POST, path, &proof, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    let enrolled = server
        .audit_events(user_id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "device_enrolled")
        .unwrap();
    assert_eq!(
        enrolled["detail"]["attestation"]["status"], "unverified",
        "{enrolled}"
    );
    assert_eq!(enrolled["detail"]["attestation"]["reason"], "malformed");
}

/// Counts rows of the test server's database with a SQL query returning one integer.
async fn count(server: &TestServer, sql: &'static str) -> i64 {
    let url = server.database_url();
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

#[tokio::test]
async fn push_mode_tokens_do_not_stay_at_rest_after_a_failed_delivery() {
    let server = manual_dev_server().await;
    // The endpoint refuses for good.
    let receiver = Receiver::start(&[401]).await;
    let (_user, sdk, _account) = server.user_with_device("jo").await;
    let client = client_for(&server, "push", &receiver.url()).await;
    start(&server, &client, "jo", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    assert_eq!(server.work_client_notifications().await, 1);
    assert_eq!(receiver.received().len(), 1, "the tokens were sent once");
    assert!(receiver.received()[0].body["access_token"].is_string());
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM notification_outbox WHERE status = 'failed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM notification_outbox WHERE payload IS NOT NULL"
        )
        .await,
        0,
        "no token left in the outbox"
    );
}

#[tokio::test]
async fn client_notifications_ignore_proxies_from_the_environment() {
    use ciba_core::authenticator::{
        Authenticator, AuthenticatorConfig, MemoryAccountStore, SoftwareKeyStore,
    };
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A "proxy" that only counts who comes to it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let proxied = Arc::new(AtomicUsize::new(0));
    let counter = proxied.clone();
    let proxy_task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = proxy.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = conn
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let receiver = Receiver::start(&[]).await;

    // The real binary, with every proxy variable pointing at the counting proxy.
    let dir = tempfile::tempdir().unwrap();
    let listen = free_loopback_addr();
    let base = format!("http://{listen}");
    let proxy_url = format!("http://{proxy_addr}");
    let child = std::process::Command::new(server_binary())
        .current_dir(dir.path())
        .args(["--listen", &listen])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.path().join("ciba.db").display()),
        ])
        .args(["--admin-token", ADMIN_TOKEN, "--dev-local-notifications"])
        .env("HTTP_PROXY", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("https_proxy", &proxy_url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_until_ready(&http, &base).await;
    let admin = |method: Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let (_, user) = json_answer(
        admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "kim"})),
        )
        .await
        .unwrap(),
    )
    .await;
    let user_id = user["id"].as_str().unwrap();
    let (_, enrollment) = json_answer(
        admin(
            Method::POST,
            &format!("/admin/v1/users/{user_id}/enrollments"),
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    let (status, client) = json_answer(
        admin(
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "Shop", "backchannel_token_delivery_mode": "ping",
                        "backchannel_client_notification_endpoint": receiver.url()}),
            ),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let sdk = Authenticator::new(
        Arc::new(MemoryAccountStore::new()),
        Arc::new(SoftwareKeyStore::in_memory()),
        Arc::new(ciba_core::clock::SystemClock),
        AuthenticatorConfig::default(),
    )
    .unwrap();
    sdk.enroll(
        enrollment["uri"].as_str().unwrap(),
        device_info(),
        PushRegistration::none(),
    )
    .await
    .unwrap();
    let (status, ack) = json_answer(
        http.post(format!("{base}/backchannel/authenticate"))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[
                ("scope", "openid"),
                ("login_hint", "kim"),
                ("client_notification_token", "cb-token"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();

    // The ping reaches the endpoint directly; the proxy saw nothing.
    let pings = receiver.wait_for(1).await;
    assert_eq!(pings[0].body["auth_req_id"], ack["auth_req_id"]);
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "a notification went through the proxy"
    );
    proxy_task.abort();
}

/// Kills a child process when the test ends, however it ends.
#[tokio::test]
async fn names_shown_to_people_must_read_as_they_render() {
    let server = TestServer::start().await;
    // A client name is shown on the phone next to what the user approves.
    for name in ["Bank\u{202e}kcaB", "Bank\u{200f}", "Bank\u{7}"] {
        let (status, body) = server
            .admin(
                Method::POST,
                "/admin/v1/clients",
                Some(json!({"name": name, "backchannel_token_delivery_mode": "poll"})),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{name:?}: {body}"
        );
    }
    // A user's display name is shown on the phone at enrollment.
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "u1", "display_name": "Al\u{202e}ice"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // A device's name is shown to bank staff.
    let user = server.create_user("lou").await;
    let uri = server.enrollment_uri(user["id"].as_str().unwrap()).await;
    let code = enrollment_code(&uri);
    let path = "/device/v1/enrollments";
    let proof = stranger_proof(&server, "POST", path);
    let body = json!({"code": code, "push": {"provider": "none"},
                      "device": {"display_name": "Phone\u{202e}enohP", "platform": "other"}});
    let (status, answer) = device_call(&server, Method::POST, path, &proof, Some(body)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(
        server
            .devices_of(user["id"].as_str().unwrap())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn json_bodies_are_objects_not_arrays_filled_by_position() {
    let server = TestServer::start().await;
    let (status, body) = server
        .admin(Method::POST, "/admin/v1/users", Some(json!(["eve"])))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/clients",
            Some(json!(["Rogue", "poll"])),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = server.admin(Method::GET, "/admin/v1/audit", None).await;
    assert_eq!(status, 200);
    let path = "/device/v1/enrollments";
    let proof = stranger_proof(&server, "POST", path);
    let (status, body) = device_call(
        &server,
        Method::POST,
        path,
        &proof,
        Some(json!(["code", {"provider": "none"}, {"display_name": "x", "platform": "other"}])),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_device_without_push_may_send_an_empty_or_null_token() {
    let server = TestServer::start().await;
    let user = server.create_user("max").await;
    let user_id = user["id"].as_str().unwrap();
    for push in [
        json!({"provider": "none"}),
        json!({"provider": "none", "token": null}),
        json!({"provider": "none", "token": ""}),
    ] {
        let uri = server.enrollment_uri(user_id).await;
        let code = enrollment_code(&uri);
        let path = "/device/v1/enrollments";
        let proof = stranger_proof(&server, "POST", path);
        let body = json!({"code": code, "push": push,
                          "device": {"display_name": "Poller", "platform": "other"}});
        let (status, answer) = device_call(&server, Method::POST, path, &proof, Some(body)).await;
        assert_eq!(status, 201, "{push}: {answer}");
    }
    let devices = server.devices_of(user_id).await;
    assert_eq!(devices.len(), 3);
    assert!(
        devices.iter().all(|d| d["push"]["has_token"] == false),
        "{devices:?}"
    );
}
