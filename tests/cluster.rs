//! Several server instances on one database, as behind a load balancer: any instance can take
//! any call, and exactly one of them wins every race.

use std::collections::HashSet;
use std::time::Duration;

use ciba_core::protocol::DecisionAction;
use ciba_e2e::*;
use serde_json::json;

use crate::notify::{Receiver, client_for, dev_server, settle, start};

#[tokio::test]
async fn request_on_a_decision_on_b_polls_on_a_and_c() {
    let a = TestServer::start().await;
    let b = a.another_instance().await;
    let c = a.another_instance().await;
    let (_user, sdk, account) = a.user_with_device("alice").await;
    let client = a.create_client(json!({})).await;
    let auth_req_id = a.start_ciba(&client, "alice").await;

    assert_eq!(
        a.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );
    // The poll interval is shared through the database: too fast on another instance too.
    assert_eq!(c.poll(&client, &auth_req_id).await.error(), "slow_down");

    let txn = sdk.pending().await.unwrap().remove(0);
    let decision = sdk
        .build_decision(&txn, DecisionAction::Approve, vec!["swk".into()], None)
        .unwrap();
    let (status, body) = post_decision(&b, &sdk, &account, &txn.view.id, &decision).await;
    assert_eq!(status, 200, "{body}");
    // The decision's jti is known to every instance.
    let (status, _) = post_decision(&c, &sdk, &account, &txn.view.id, &decision).await;
    assert_eq!(status, 400);

    a.clock.advance(20);
    let tokens = c.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    crate::flows::verify_with_jwks(&b, tokens.body["id_token"].as_str().unwrap(), &client.id).await;
    assert_eq!(
        a.poll(&client, &auth_req_id).await.error(),
        "invalid_grant",
        "issued once across instances"
    );
}

#[tokio::test]
async fn two_hundred_concurrent_decisions_across_instances_have_one_winner() {
    let a = TestServer::start().await;
    let others = [a.another_instance().await, a.another_instance().await];
    let user = a.create_user("bob").await;
    let mut devices = Vec::new();
    for _ in 0..20 {
        let sdk = a.authenticator();
        let uri = a.enrollment_uri(user["id"].as_str().unwrap()).await;
        let account = sdk
            .enroll(
                &uri,
                device_info(),
                ciba_core::protocol::PushRegistration::none(),
            )
            .await
            .unwrap();
        devices.push((sdk, account));
    }
    let client = a.create_client(json!({})).await;
    let auth_req_id = a.start_ciba(&client, "bob").await;
    let txn = devices[0].0.pending().await.unwrap().remove(0);

    // 20 devices × 10 distinct decisions each, spread over three instances, all at once.
    let instances = [&a, &others[0], &others[1]];
    let mut calls = Vec::new();
    for (i, (sdk, account)) in devices.iter().enumerate() {
        let mine = ciba_core::authenticator::Transaction {
            account_id: account.id.clone(),
            view: txn.view.clone(),
        };
        for j in 0..10 {
            let action = if (i + j) % 2 == 0 {
                DecisionAction::Approve
            } else {
                DecisionAction::Deny
            };
            let jws = sdk
                .build_decision(&mine, action, vec!["swk".into()], None)
                .unwrap();
            let server = instances[(i * 10 + j) % 3];
            let path = format!("/device/v1/transactions/{}/decision", txn.view.id);
            let dpop = proof(server, sdk, account, "POST", &path);
            let request = server
                .http
                .post(server.url(&path))
                .header("DPoP", dpop)
                .json(&json!({ "decision": jws }));
            calls.push(tokio::spawn(async move {
                let response = request.send().await.unwrap();
                response.status().as_u16()
            }));
        }
    }
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    assert_eq!(statuses.len(), 200);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let answer = others[1].poll(&client, &auth_req_id).await;
    assert!(
        answer.status == 200 || answer.error() == "access_denied",
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn three_instances_deliver_each_ping_exactly_once() {
    let a = dev_server().await;
    let b = a.another_instance().await;
    let c = a.another_instance().await;
    let receiver = Receiver::start(&[]).await;
    let (_user, sdk, account) = a.user_with_device("carol").await;
    let client = client_for(&a, "ping", &receiver.url()).await;
    let instances = [&a, &b, &c];
    let mut expected = HashSet::new();
    for i in 0..30 {
        let server = instances[i % 3];
        expected.insert(start(server, &client, "carol", "tok").await);
        let txn = sdk.pending().await.unwrap().remove(0);
        let jws = sdk
            .build_decision(&txn, DecisionAction::Approve, vec!["swk".into()], None)
            .unwrap();
        let (status, body) =
            post_decision(instances[(i + 1) % 3], &sdk, &account, &txn.view.id, &jws).await;
        assert_eq!(status, 200, "{body}");
    }
    receiver.wait_for(30).await;
    settle(&a).await;
    let got = receiver.received();
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.body["auth_req_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 30, "each notification exactly once: {ids:?}");
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test]
async fn a_killed_instances_notification_is_delivered_by_another() {
    let mut a = dev_server().await;
    // The first attempt hangs: instance A is in the middle of delivering when it dies.
    let receiver = Receiver::start(&[0]).await;
    let (_user, sdk, _account) = a.user_with_device("dave").await;
    let client = client_for(&a, "push", &receiver.url()).await;
    let auth_req_id = start(&a, &client, "dave", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    receiver.wait_for(1).await;

    let b = a.another_instance().await;
    a.kill();
    // B leaves A's leased work alone until the lease expires…
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1);
    // …then takes it over and delivers the same tokens A had minted.
    b.clock.advance(61);
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].body["auth_req_id"], auth_req_id.as_str());
    assert_eq!(got[0].body, got[1].body, "tokens minted once");
    settle(&b).await;
    assert_eq!(receiver.received().len(), 2);
}

/// A decision taken on an instance that runs no delivery workers (an HTTP-only front) is pinged
/// at once by another instance whose workers would otherwise scan only once an hour: the
/// database announces each committed outbox row to every instance (PostgreSQL LISTEN/NOTIFY).
#[tokio::test]
async fn a_decision_on_one_instance_wakes_the_workers_of_another() {
    // A SQLite file has one server: nothing to announce to.
    if !postgres_pass("a_decision_on_one_instance_wakes_the_workers_of_another") {
        return;
    }
    let front = TestServer::start_manual(|s| {
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 3_600_000;
        s.push.worker_interval_ms = 3_600_000;
    })
    .await;
    let worker = front.another_instance_with_workers().await;
    let receiver = Receiver::start(&[]).await;
    let (_user, sdk, _account) = front.user_with_device("erin").await;
    let client = client_for(&front, "ping", &receiver.url()).await;
    let auth_req_id = start(&front, &client, "erin", "tok").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();

    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].body["auth_req_id"], auth_req_id.as_str());
    // Delivered by the worker instance: the front has nothing left to send.
    assert_eq!(front.work_client_notifications().await, 0);
    drop(worker);
}
