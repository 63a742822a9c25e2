//! What an attacker or a confused device tries, and the server refuses.

use ciba_core::authenticator::AuthenticatorError;
use ciba_core::clock::Clock;
use ciba_core::protocol::{DecisionAction, TransactionStatus};
use ciba_e2e::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn replayed_decision_is_refused() {
    let server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("alice").await;
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "alice").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    let decision = sdk
        .build_decision(&txn, DecisionAction::Deny, vec![], None)
        .unwrap();
    let (status, body) = post_decision(&server, &sdk, &account, &txn.view.id, &decision).await;
    assert_eq!((status, &body["status"]), (200, &json!("denied")), "{body}");
    let (status, body) = post_decision(&server, &sdk, &account, &txn.view.id, &decision).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_decision")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already submitted")
    );
}

#[tokio::test]
async fn replayed_or_mismatched_dpop_proofs_are_refused() {
    let server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("bob").await;
    let path = "/device/v1/transactions";
    let dpop = proof(&server, &sdk, &account, "GET", path);
    assert_eq!(
        device_call(&server, Method::GET, path, &dpop, None).await.0,
        200
    );
    let (status, body) = device_call(&server, Method::GET, path, &dpop, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "replay: {body}"
    );

    let wrong_method = proof(&server, &sdk, &account, "POST", path);
    assert_eq!(
        device_call(&server, Method::GET, path, &wrong_method, None)
            .await
            .0,
        401
    );
    let wrong_url = proof(&server, &sdk, &account, "GET", "/device/v1/device");
    assert_eq!(
        device_call(&server, Method::GET, path, &wrong_url, None)
            .await
            .0,
        401
    );
    let stale = proof(&server, &sdk, &account, "GET", path);
    server.clock.advance(61);
    let (status, body) = device_call(&server, Method::GET, path, &stale, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "stale: {body}"
    );
    let mut tampered = proof(&server, &sdk, &account, "GET", path);
    tampered.insert(tampered.rfind('.').unwrap() + 3, 'x');
    assert_eq!(
        device_call(&server, Method::GET, path, &tampered, None)
            .await
            .0,
        401
    );
    assert_eq!(
        device_call(&server, Method::GET, path, "not-a-jws", None)
            .await
            .0,
        401
    );
    let resp = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 401, "no proof at all");
}

#[tokio::test]
async fn unknown_and_revoked_devices_are_told_so() {
    let server = TestServer::start().await;
    let (user, sdk, account) = server.user_with_device("carol").await;
    // A key that never enrolled.
    let stranger = ciba_core::jose::software::SoftwareSigner::generate().unwrap();
    let jti = ciba_core::jose::software::random_b64u(16).unwrap();
    let dpop = ciba_core::jose::dpop_proof(
        &stranger,
        "GET",
        &server.url("/device/v1/transactions"),
        server.clock.now(),
        &jti,
    )
    .unwrap();
    let (status, body) =
        device_call(&server, Method::GET, "/device/v1/transactions", &dpop, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown_device"))
    );

    let (_, devices) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/users/{}/devices", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        devices["devices"][0]["device_id"],
        account.device_id.as_str()
    );
    assert_eq!(devices["devices"][0]["status"], "active");
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/v1/devices/{}", account.device_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(matches!(
        sdk.pending().await.unwrap_err(),
        AuthenticatorError::DeviceRevoked
    ));
    // The revoked device can still learn its status.
    let dpop = proof(&server, &sdk, &account, "GET", "/device/v1/device");
    let (status, body) = device_call(&server, Method::GET, "/device/v1/device", &dpop, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("revoked")),
        "{body}"
    );
}

#[tokio::test]
async fn decision_by_another_users_device_is_refused() {
    let server = TestServer::start().await;
    let (_a, sdk_a, _acc_a) = server.user_with_device("alice").await;
    let (_b, sdk_b, acc_b) = server.user_with_device("mallory").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;
    let txn_a = sdk_a.pending().await.unwrap().remove(0);

    // Mallory's device cannot see Alice's transaction…
    assert!(sdk_b.pending().await.unwrap().is_empty());
    let err = sdk_b
        .transaction(&acc_b.id, &txn_a.view.id)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthenticatorError::NotFound), "{err:?}");
    // …and a decision it signs over everything Alice saw is refused.
    let stolen = ciba_core::authenticator::Transaction {
        account_id: acc_b.id.clone(),
        view: txn_a.view.clone(),
    };
    let decision = sdk_b
        .build_decision(&stolen, DecisionAction::Approve, vec!["swk".into()], None)
        .unwrap();
    let (status, body) = post_decision(&server, &sdk_b, &acc_b, &txn_a.view.id, &decision).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_decision")),
        "{body}"
    );
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );
}

#[tokio::test]
async fn approval_of_something_else_than_shown_is_refused() {
    let server = TestServer::start().await;
    let (_user, sdk, _account) = server.user_with_device("dave").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "dave").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    type Txn = ciba_core::authenticator::Transaction;
    let tampers: [fn(&mut Txn); 4] = [
        |t| t.view.binding_message = Some("OTHER".into()),
        |t| t.view.scope.push("payments".into()),
        |t| t.view.client.client_id = "someone-else".into(),
        |t| t.view.challenge = "AAAA".into(),
    ];
    for tamper in tampers {
        let mut shown = txn.clone();
        tamper(&mut shown);
        let err = sdk.approve(&shown, vec!["swk".into()]).await.unwrap_err();
        match err {
            AuthenticatorError::Server {
                status: 400, error, ..
            } => assert_eq!(error, "invalid_decision"),
            other => panic!("expected invalid_decision, got {other:?}"),
        }
    }
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );
    assert_eq!(
        sdk.pending().await.unwrap()[0].view.status,
        TransactionStatus::Pending
    );
}

#[tokio::test]
async fn enrollment_code_works_once_and_expires() {
    let server = TestServer::start().await;
    let user = server.create_user("erin").await;
    let uri = server.enrollment_uri(user["id"].as_str().unwrap()).await;
    server
        .authenticator()
        .enroll(
            &uri,
            device_info(),
            ciba_core::protocol::PushRegistration::none(),
        )
        .await
        .unwrap();
    let err = server
        .authenticator()
        .enroll(
            &uri,
            device_info(),
            ciba_core::protocol::PushRegistration::none(),
        )
        .await
        .unwrap_err();
    match err {
        AuthenticatorError::Server {
            status: 400, error, ..
        } => assert_eq!(error, "invalid_enrollment_code"),
        other => panic!("{other:?}"),
    }
    let late = server.enrollment_uri(user["id"].as_str().unwrap()).await;
    server.clock.advance(601);
    let err = server
        .authenticator()
        .enroll(
            &late,
            device_info(),
            ciba_core::protocol::PushRegistration::none(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthenticatorError::Server { status: 400, .. }),
        "{err:?}"
    );
    let (_, devices) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/users/{}/devices", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_enrollments_with_one_code_have_one_winner() {
    let server = TestServer::start().await;
    let user = server.create_user("frank").await;
    let uri = server.enrollment_uri(user["id"].as_str().unwrap()).await;
    let attempts = (0..8).map(|_| {
        let sdk = server.authenticator();
        let uri = uri.clone();
        async move {
            sdk.enroll(
                &uri,
                device_info(),
                ciba_core::protocol::PushRegistration::none(),
            )
            .await
        }
    });
    let results = futures_join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn concurrent_decisions_from_several_devices_have_one_winner() {
    let server = TestServer::start().await;
    let user = server.create_user("gina").await;
    let mut devices = Vec::new();
    for _ in 0..4 {
        let sdk = server.authenticator();
        let uri = server.enrollment_uri(user["id"].as_str().unwrap()).await;
        sdk.enroll(
            &uri,
            device_info(),
            ciba_core::protocol::PushRegistration::none(),
        )
        .await
        .unwrap();
        devices.push(sdk);
    }
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "gina").await;
    let mut txns = Vec::new();
    for sdk in &devices {
        txns.push(sdk.pending().await.unwrap().remove(0));
    }
    let attempts = devices
        .into_iter()
        .zip(txns)
        .enumerate()
        .map(|(i, (sdk, txn))| async move {
            if i % 2 == 0 {
                sdk.approve(&txn, vec!["swk".into()]).await
            } else {
                sdk.deny(&txn, ciba_core::protocol::DenyReason::UserDeclined)
                    .await
            }
        });
    let results = futures_join_all(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, AuthenticatorError::AlreadyDecided))
    );
    let answer = server.poll(&client, &auth_req_id).await;
    assert!(
        answer.status == 200 || answer.error() == "access_denied",
        "{}",
        answer.body
    );
}
