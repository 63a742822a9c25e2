//! The admin API: authentication, users, clients, enrollments, devices and the audit log.

use ciba_core::protocol::DenyReason;
use ciba_e2e::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn admin_api_requires_the_token() {
    let server = TestServer::start().await;
    let resp = server
        .http
        .post(server.url("/admin/v1/users"))
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = server
        .http
        .get(server.url("/admin/v1/audit"))
        .bearer_auth("test-admin-token-0123456788")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"ciba-admin\""
    );
}

#[tokio::test]
async fn users_and_clients_lifecycle() {
    let server = TestServer::start().await;
    let user = server.create_user("alice").await;
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    let (status, _) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": ""})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "x", "role": "admin"})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let id = user["id"].as_str().unwrap();
    let (status, fetched) = server
        .admin(Method::GET, &format!("/admin/v1/users/{id}"), None)
        .await;
    assert_eq!((status, &fetched["username"]), (200, &json!("alice")));

    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/clients",
            Some(json!({"name": "Shop", "backchannel_token_delivery_mode": "ping"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let client = server.create_client(json!({})).await;
    let (status, fetched) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/clients/{}", client.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        fetched.get("client_secret").is_none(),
        "the secret is shown only once"
    );
    assert_eq!(
        fetched["grant_types"],
        json!(["urn:openid:params:grant-type:ciba"])
    );

    // Deleting a client cancels its requests and its credentials stop working.
    let auth_req_id = server.start_ciba(&client, "alice").await;
    assert_eq!(
        server
            .admin(
                Method::DELETE,
                &format!("/admin/v1/clients/{}", client.id),
                None
            )
            .await
            .0,
        204
    );
    assert_eq!(server.poll(&client, &auth_req_id).await.status, 401);
    assert_eq!(
        server
            .admin(
                Method::DELETE,
                &format!("/admin/v1/clients/{}", client.id),
                None
            )
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_removed_user_is_refused_again_at_redemption() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("bob").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "bob").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        server
            .admin(Method::DELETE, &format!("/admin/v1/users/{id}"), None)
            .await
            .0,
        204
    );
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!((answer.status, answer.error()), (400, "access_denied"));
    let answer = server
        .backchannel(&client, &[("scope", "openid"), ("login_hint", "bob")])
        .await;
    assert_eq!(answer.error(), "unknown_user_id");
    assert_eq!(
        server
            .admin(Method::GET, &format!("/admin/v1/users/{id}"), None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn audit_log_records_requests_decisions_and_fraud_reports() {
    let server = TestServer::start().await;
    let (user, sdk, account) = server.user_with_device("carol").await;
    let client = server.create_client(json!({})).await;
    server.clock.advance(1);
    let since = ciba_core::clock::Clock::now(&server.clock);
    server.start_ciba(&client, "carol").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.deny(&txn, DenyReason::NotRecognized).await.unwrap();
    let id = user["id"].as_str().unwrap();
    let (status, audit) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/audit?user_id={id}&since={since}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ciba_request",
            "push_not_sent",
            "decision",
            "fraud_reported",
            "user_locked"
        ],
        "{audit}"
    );
    let fraud = &audit["events"][3];
    assert_eq!(fraud["device_id"], account.device_id.as_str());
    assert_eq!(fraud["request_id"], txn.view.id.as_str());
    let (_, all) = server
        .admin(Method::GET, &format!("/admin/v1/audit?user_id={id}"), None)
        .await;
    let all_kinds: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        all_kinds.starts_with(&["user_created", "enrollment_created", "device_enrolled"]),
        "{all_kinds:?}"
    );
    let (status, _) = server
        .admin(Method::GET, "/admin/v1/audit?since=yesterday", None)
        .await;
    assert_eq!(status, 400);

    // The fraud report locked the user: new requests are refused with a generic access_denied
    // (a client must not learn that the user reported fraud); the reason is in the audit log…
    let answer = server
        .backchannel(&client, &[("scope", "openid"), ("login_hint", "carol")])
        .await;
    assert_eq!((answer.status, answer.error()), (400, "access_denied"));
    let description = answer.body["error_description"].as_str().unwrap();
    assert!(
        !description.contains("lock")
            && !description.contains("fraud")
            && !description.contains("recogni"),
        "{description}"
    );
    let (_, audit) = server
        .admin(Method::GET, &format!("/admin/v1/audit?user_id={id}"), None)
        .await;
    let refused: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ciba_request_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{audit}");
    assert_eq!(refused[0]["detail"]["reason"], "user_locked");
    // …until an administrator unlocks them.
    let (status, unlocked) = server
        .admin(Method::POST, &format!("/admin/v1/users/{id}/unlock"), None)
        .await;
    assert_eq!((status, unlocked["status"].as_str()), (200, Some("active")));
    server.start_ciba(&client, "carol").await;
}

#[tokio::test]
async fn fraud_reports_do_not_lock_when_the_setting_is_off() {
    let server = TestServer::start_with(|s| s.ciba.lock_user_on_fraud_report = false).await;
    let (user, sdk, _account) = server.user_with_device("dora").await;
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "dora").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.deny(&txn, DenyReason::NotRecognized).await.unwrap();
    server.start_ciba(&client, "dora").await;
    // An admin can still lock by hand; a locked user's approved request yields no tokens.
    server.clock.advance(1); // newest first: keep the two requests apart
    let auth_req_id = server.start_ciba(&client, "dora").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let (_, user) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{}/lock", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "access_denied"
    );
}
