//! Wake-up pushes through the server's real FCM and APNs clients to local mocks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::Version;
use ciba_core::clock::{Clock, ManualClock};
use ciba_core::protocol::{PushEnvironment, PushProvider, PushRegistration};
use ciba_e2e::mock_push::*;
use ciba_e2e::*;
use ciba_server::config::PushSettings;
use ciba_server::store::WakeupDelivery;
use serde_json::{Value, json};

fn fcm(token: &str) -> PushRegistration {
    PushRegistration {
        provider: PushProvider::Fcm,
        token: Some(token.into()),
        environment: PushEnvironment::Production,
    }
}

fn apns(token: &str, environment: PushEnvironment) -> PushRegistration {
    PushRegistration {
        provider: PushProvider::Apns,
        token: Some(token.into()),
        environment,
    }
}

async fn push_server(mocks: &PushMocks) -> TestServer {
    TestServer::start_with(|s| mocks.configure(s)).await
}

/// The newest request's transaction id (as the user's SDK lists it).
async fn newest_txn(sdk: &ciba_core::authenticator::Authenticator) -> String {
    sdk.pending().await.unwrap().remove(0).view.id
}

async fn pushes(server: &TestServer, txn: &str) -> Vec<WakeupDelivery> {
    server.store().wakeups_of_request(txn).await.unwrap()
}

/// Waits (bounded, real time) until the pushes of `txn` satisfy `done`.
async fn wait_pushes(
    server: &TestServer,
    txn: &str,
    done: impl Fn(&[WakeupDelivery]) -> bool,
) -> Vec<WakeupDelivery> {
    let what = format!("the pushes of {txn} reach the expected state");
    eventually(&what, || async {
        let p = pushes(server, txn).await;
        done(&p).then_some(p)
    })
    .await
}

/// What Google and Apple receive must not carry personal data or the request's content.
fn assert_no_pii(text: &str, user: &Value) {
    for secret in [
        "W4-7QX",
        "accounts",
        "openid",
        user["username"].as_str().unwrap(),
        user["display_name"].as_str().unwrap(),
        user["subject"].as_str().unwrap_or("no-subject-field"),
        user["id"].as_str().unwrap(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked to a provider: {text}"
        );
    }
}

#[tokio::test]
async fn fcm_push_wakes_the_sdk_which_approves_and_the_client_gets_tokens() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (user, sdk, _account) = server
        .user_with_push_device("alice", fcm("fcm-registration-1"))
        .await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;

    let sent = mocks.fcm.messages.wait_for(1).await;
    let message = &sent[0];
    assert_eq!(
        message.path,
        format!("/v1/projects/{FCM_PROJECT}/messages:send")
    );
    let token_requests = mocks.fcm.tokens.received();
    assert_eq!(token_requests.len(), 1);
    let claims = mocks.fcm.verify_token_request(&token_requests[0]);
    assert_eq!(claims["iat"], server.clock.now());
    assert_eq!(
        message.header("authorization").as_deref(),
        Some("Bearer fcm-access-1")
    );
    let body = message.json();
    let keys: Vec<&String> = body["message"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["android", "data", "token"], "{body}");
    assert_eq!(body["message"]["token"], "fcm-registration-1");
    assert_eq!(
        body["message"]["android"],
        json!({"priority": "HIGH", "ttl": "300s"})
    );
    let data = &body["message"]["data"];
    assert_eq!(data["v"], "1");
    assert_eq!(data["iss"], server.issuer.as_str());
    assert_eq!(data.as_object().unwrap().len(), 3, "{data}");
    assert_no_pii(&message.text(), &user);

    // The app hands the data message to the SDK, which fetches and shows the transaction.
    let txn = sdk.handle_push(&data.to_string()).await.unwrap();
    assert_eq!(data["txn"], txn.view.id.as_str());
    assert_eq!(txn.view.binding_message.as_deref(), Some("W4-7QX"));
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["access_token"].is_string());

    let done = wait_pushes(&server, &txn.view.id, |p| {
        p.iter().all(|p| p.status == "sent")
    })
    .await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].attempts, 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ciba_push_sent_total{provider=\"fcm\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn apns_push_has_the_headers_and_generic_alert_and_goes_to_the_device_environment() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (user, sdk, _) = server
        .user_with_push_device("bob", apns("a1b2c3d4e5f60718", PushEnvironment::Production))
        .await;
    let user_id = user["id"].as_str().unwrap();
    server
        .enroll_device(user_id, apns("ffeeddccbbaa9988", PushEnvironment::Sandbox))
        .await;
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "bob").await;
    let txn = newest_txn(&sdk).await;
    let now = server.clock.now();

    let production = mocks.apns.log.wait_for(1).await;
    let sandbox = mocks.apns_sandbox.log.wait_for(1).await;
    assert_eq!(production[0].path, "/3/device/a1b2c3d4e5f60718");
    assert_eq!(sandbox[0].path, "/3/device/ffeeddccbbaa9988");
    for push in [&production[0], &sandbox[0]] {
        assert_eq!(push.version, Version::HTTP_2);
        assert_eq!(push.header("apns-topic").as_deref(), Some(APNS_TOPIC));
        assert_eq!(push.header("apns-push-type").as_deref(), Some("alert"));
        assert_eq!(push.header("apns-priority").as_deref(), Some("10"));
        assert_eq!(
            push.header("apns-expiration"),
            Some((now + 300).to_string())
        );
        assert_eq!(push.header("apns-collapse-id"), Some(txn.clone()));
        let claims = mocks
            .apns_key
            .verify(&push.header("authorization").unwrap());
        assert_eq!(claims, json!({"iss": APNS_TEAM_ID, "iat": now}));
        let body = push.json();
        assert_eq!(
            body,
            json!({
                "aps": {
                    "alert": {"title-loc-key": "CIBA_REQUEST_TITLE", "loc-key": "CIBA_REQUEST_BODY"},
                    "sound": "default",
                    "mutable-content": 1,
                },
                "ciba": {"v": "1", "iss": server.issuer, "txn": txn},
            })
        );
        assert_no_pii(&push.text(), &user);
    }
    // One connection per APNs host, reused.
    assert_eq!(mocks.apns.log.connections.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn oauth_and_provider_tokens_are_renewed_when_the_clock_passes_their_expiry() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (user, _sdk, _) = server
        .user_with_push_device("carol", fcm("fcm-registration-carol"))
        .await;
    server
        .enroll_device(
            user["id"].as_str().unwrap(),
            apns("0a0b0c0d", PushEnvironment::Production),
        )
        .await;
    let client = server.create_client(json!({})).await;
    let bearer = |n: usize, log: &MockLog| log.received()[n].header("authorization").unwrap();

    server.start_ciba(&client, "carol").await;
    mocks.fcm.messages.wait_for(1).await;
    mocks.apns.log.wait_for(1).await;
    let first_iat = server.clock.now();

    server.clock.advance(600);
    server.start_ciba(&client, "carol").await;
    mocks.fcm.messages.wait_for(2).await;
    mocks.apns.log.wait_for(2).await;
    assert_eq!(
        mocks.fcm.tokens.received().len(),
        1,
        "the access token is cached"
    );
    assert_eq!(bearer(1, &mocks.fcm.messages), "Bearer fcm-access-1");
    assert_eq!(
        bearer(1, &mocks.apns.log),
        bearer(0, &mocks.apns.log),
        "the provider token is reused"
    );

    // Past the access token's hour and the provider token's 50 minutes: both are renewed.
    server.clock.advance(3000);
    server.start_ciba(&client, "carol").await;
    mocks.fcm.messages.wait_for(3).await;
    mocks.apns.log.wait_for(3).await;
    let token_requests = mocks.fcm.tokens.received();
    assert_eq!(token_requests.len(), 2);
    assert_eq!(
        mocks.fcm.verify_token_request(&token_requests[1])["iat"],
        server.clock.now()
    );
    assert_eq!(bearer(2, &mocks.fcm.messages), "Bearer fcm-access-2");
    let renewed = mocks.apns_key.verify(&bearer(2, &mocks.apns.log));
    assert_eq!(renewed["iat"], server.clock.now());
    assert_ne!(renewed["iat"], first_iat);
}

#[tokio::test]
async fn dead_tokens_are_marked_invalid_until_the_device_registers_a_new_one() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (user, android, _) = server
        .user_with_push_device("dave", fcm("fcm-registration-dave"))
        .await;
    let user_id = user["id"].as_str().unwrap();
    let (_iphone, _) = server
        .enroll_device(user_id, apns("deadbeef", PushEnvironment::Production))
        .await;
    let (_ipad, _) = server
        .enroll_device(user_id, apns("badbadbad", PushEnvironment::Sandbox))
        .await;
    mocks.fcm.messages.script([Reply::new(
        404,
        json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
               "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
    )]);
    mocks.apns.log.script([Reply::new(
        410,
        json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000_i64}),
    )]);
    mocks
        .apns_sandbox
        .log
        .script([Reply::new(400, json!({"reason": "BadDeviceToken"}))]);
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "dave").await;
    let txn = newest_txn(&android).await;
    let ended = wait_pushes(&server, &txn, |p| {
        p.len() == 3 && p.iter().all(|p| p.status != "pending")
    })
    .await;
    assert!(ended.iter().all(|p| p.status == "failed"), "{ended:?}");
    for device in server.devices_of(user_id).await {
        assert_eq!(device["push"]["has_token"], true);
        assert_eq!(device["push"]["token_valid"], false, "{device}");
    }
    let invalidated = server
        .audit_events(user_id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "push_token_invalidated")
        .count();
    assert_eq!(invalidated, 3);

    // The next request pushes nobody (the devices poll), and says so.
    server.clock.advance(1);
    server.start_ciba(&client, "dave").await;
    let txn = newest_txn(&android).await;
    assert!(pushes(&server, &txn).await.is_empty());
    let events = server.audit_events(user_id).await;
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "push_not_sent");
    assert_eq!(last["request_id"], txn.as_str());
    assert!(
        last["detail"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["reason"] == "push_token_invalid"),
        "{last}"
    );

    // A fresh registration clears the mark, and pushes reach the device again.
    android
        .update_push_token(fcm("fcm-registration-dave-2"))
        .await
        .unwrap();
    let valid: Vec<bool> = server
        .devices_of(user_id)
        .await
        .iter()
        .map(|d| d["push"]["token_valid"].as_bool().unwrap())
        .collect();
    assert_eq!(valid.iter().filter(|v| **v).count(), 1, "{valid:?}");
    server.clock.advance(1);
    server.start_ciba(&client, "dave").await;
    let sent = mocks.fcm.messages.wait_for(2).await;
    assert_eq!(
        sent[1].json()["message"]["token"],
        "fcm-registration-dave-2"
    );
    assert_eq!(
        mocks.apns.log.received().len(),
        1,
        "no further pushes to a dead token"
    );
    assert_eq!(mocks.apns_sandbox.log.received().len(), 1);
}

#[tokio::test]
async fn unavailable_provider_is_retried_after_its_retry_after() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (_user, sdk, _) = server
        .user_with_push_device("erin", fcm("fcm-registration-erin"))
        .await;
    mocks.fcm.messages.script([Reply::new(
        503,
        json!({"error": {"code": 503, "status": "UNAVAILABLE", "message": "The service is currently unavailable."}}),
    )
    .retry_after("30")]);
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "erin").await;
    let txn = newest_txn(&sdk).await;
    mocks.fcm.messages.wait_for(1).await;
    let waiting = wait_pushes(&server, &txn, |p| p[0].last_error.is_some()).await;
    assert_eq!(waiting[0].status, "pending");
    assert_eq!(waiting[0].attempts, 1);
    assert_eq!(
        waiting[0].next_attempt_at,
        server.clock.now() + 30,
        "Retry-After is honoured"
    );

    server.clock.advance(30);
    let sent = mocks.fcm.messages.wait_for(2).await;
    let (first, again) = (sent[0].json(), sent[1].json());
    assert_eq!(again["message"]["data"], first["message"]["data"]);
    assert_eq!(
        again["message"]["android"]["ttl"], "270s",
        "the TTL is the time left"
    );
    let done = wait_pushes(&server, &txn, |p| p[0].status == "sent").await;
    assert_eq!(done[0].attempts, 2);
}

#[tokio::test]
async fn refused_credentials_degrade_the_server_without_taking_it_out_or_hammering_the_provider() {
    let mocks = PushMocks::start().await;
    let server = push_server(&mocks).await;
    let (_user, sdk, _) = server
        .user_with_push_device("frank", fcm("fcm-registration-frank"))
        .await;
    mocks.fcm.tokens.script([Reply::new(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    )]);
    let client = server.create_client(json!({})).await;
    let readyz = || async {
        let r = server.http.get(server.url("/readyz")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(readyz().await.0, 200);

    server.start_ciba(&client, "frank").await;
    let first = newest_txn(&sdk).await;
    let waiting = wait_pushes(&server, &first, |p| p[0].last_error.is_some()).await;
    assert_eq!(waiting[0].status, "pending");
    assert!(
        waiting[0].next_attempt_at >= server.clock.now() + 60,
        "{waiting:?}"
    );
    // Still ready (polls and other providers work): the trouble is reported, not fatal.
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("ready; degraded")
            && body.contains("fcm")
            && body.contains("invalid_grant"),
        "{body}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ciba_push_credentials_refused{provider=\"fcm\"} 1"),
        "{metrics}"
    );
    // A poll flow is served meanwhile.
    let auth_req_id = server.start_ciba(&client, "frank").await;
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );

    // Another push meanwhile fails at once, without asking the token endpoint again.
    server.start_ciba(&client, "frank").await;
    let second = newest_txn(&sdk).await;
    wait_pushes(&server, &second, |p| p[0].last_error.is_some()).await;
    assert_eq!(mocks.fcm.tokens.received().len(), 1);
    assert!(mocks.fcm.messages.received().is_empty());

    // The operator fixes the account (here: the endpoint accepts again); retries succeed.
    server.clock.advance(60);
    mocks.fcm.messages.wait_for(2).await;
    assert_eq!(mocks.fcm.tokens.received().len(), 2, "one fetch for both");
    wait_pushes(&server, &second, |p| p[0].status == "sent").await;
    assert_eq!(readyz().await, (200, "ready".to_owned()));
    assert!(
        server
            .metrics()
            .await
            .contains("ciba_push_credentials_refused{provider=\"fcm\"} 0")
    );
}

#[tokio::test]
async fn requests_without_pushable_devices_succeed_and_the_audit_says_why() {
    let mocks = PushMocks::start().await;
    // APNs is not configured on this server.
    let server = TestServer::start_with(|s| {
        mocks.configure(s);
        s.push.apns = None;
    })
    .await;
    let client = server.create_client(json!({})).await;

    let nobody = server.create_user("gina").await;
    server.start_ciba(&client, "gina").await;
    let (hank, _, _) = server.user_with_device("hank").await;
    server.start_ciba(&client, "hank").await;
    let (iphone_user, iphone, _) = server
        .user_with_push_device("ivy", apns("c0ffee", PushEnvironment::Production))
        .await;
    server.start_ciba(&client, "ivy").await;

    let last = |events: Vec<Value>| events.last().unwrap().clone();
    let gina = last(server.audit_events(nobody["id"].as_str().unwrap()).await);
    assert_eq!(gina["kind"], "push_not_sent");
    assert_eq!(gina["detail"]["reason"], "the user has no active device");

    let hank = last(server.audit_events(hank["id"].as_str().unwrap()).await);
    assert_eq!(hank["kind"], "push_not_sent");
    assert_eq!(hank["detail"]["reason"], "no device can be pushed");
    assert_eq!(hank["detail"]["devices"][0]["reason"], "no_push_token");

    let ivy = last(
        server
            .audit_events(iphone_user["id"].as_str().unwrap())
            .await,
    );
    assert_eq!(ivy["kind"], "push_not_sent");
    assert_eq!(
        ivy["detail"]["devices"][0]["reason"],
        "provider_not_configured"
    );
    assert!(pushes(&server, &newest_txn(&iphone).await).await.is_empty());
    assert!(mocks.apns.log.received().is_empty());
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ciba_push_skipped_total{provider=\"apns\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn apns_client_multiplexes_concurrent_pushes_over_one_http2_connection() {
    let ca = TestCa::new("CIBA push test CA");
    let mock = MockApns::start(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let key = ApnsKey::generate();
    let settings = PushSettings {
        extra_root_certificates: vec![ca.write(dir.path(), "push-test-ca.pem")],
        ..PushSettings::default()
    };
    let apns_settings = ciba_server::config::ApnsSettings {
        team_id: APNS_TEAM_ID.into(),
        key_id: APNS_KEY_ID.into(),
        key_file: key.write(dir.path()),
        topic: APNS_TOPIC.into(),
        production_base_url: mock.base_url.clone(),
        sandbox_base_url: mock.base_url.clone(),
    };
    let clock = ManualClock::new(1_700_000_000);
    let client = Arc::new(
        ciba_server::push::ApnsClient::new(&apns_settings, &settings, Arc::new(clock)).unwrap(),
    );
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..300 {
        let client = client.clone();
        sends.spawn(async move {
            let payload =
                ciba_core::protocol::PushPayload::new("https://as.example", format!("txn_{i}"));
            client
                .send(&format!("{i:064x}"), "production", &payload, 1_700_000_300)
                .await
        });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap().unwrap();
    }
    let received = mock.log.received();
    assert_eq!(received.len(), 300);
    assert!(received.iter().all(|r| r.version == Version::HTTP_2));
    assert_eq!(
        mock.log.connections.load(Ordering::Relaxed),
        1,
        "every push multiplexed on one connection"
    );
}
