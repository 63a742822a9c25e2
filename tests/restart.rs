//! The server restarted between request and approval loses nothing.

use ciba_e2e::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn restart_between_request_and_approval_loses_nothing() {
    let mut server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("alice").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;
    let jwks_before = server.get_json("/jwks").await;
    let used_proof = proof(&server, &sdk, &account, "GET", "/device/v1/transactions");
    assert_eq!(
        device_call(
            &server,
            Method::GET,
            "/device/v1/transactions",
            &used_proof,
            None
        )
        .await
        .0,
        200
    );

    server.restart().await;

    // The replay cache survived.
    assert_eq!(
        device_call(
            &server,
            Method::GET,
            "/device/v1/transactions",
            &used_proof,
            None
        )
        .await
        .0,
        401
    );
    // The request, the device, the client and the signing key survived.
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let jwks_after = server.get_json("/jwks").await;
    assert_eq!(jwks_before, jwks_after);
    crate::flows::verify_with_jwks(
        &server,
        answer.body["id_token"].as_str().unwrap(),
        &client.id,
    )
    .await;
}

#[tokio::test]
async fn the_sweep_keeps_tombstones_until_their_horizon_then_forgets() {
    let server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("bob").await;
    let client = server.create_client(json!({})).await;
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("login_hint", "bob"),
                ("requested_expiry", "60"),
            ],
        )
        .await;
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let proof_before = proof(&server, &sdk, &account, "GET", "/device/v1/transactions");
    assert_eq!(
        device_call(
            &server,
            Method::GET,
            "/device/v1/transactions",
            &proof_before,
            None
        )
        .await
        .0,
        200
    );

    use ciba_core::clock::Clock;
    let store = server.store();
    let retention = 86_400;
    // Expired, but within the tombstone retention: kept, so late polls get expired_token.
    server.clock.advance(3_600);
    let now = server.clock.now();
    let stats = store.sweep(now, now - retention).await.unwrap();
    assert_eq!(stats.requests, 0);
    assert!(
        stats.jtis >= 1,
        "the DPoP jti outlived its 120 s window: {stats:?}"
    );
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "expired_token"
    );
    // Past the horizon: gone.
    server.clock.advance(retention);
    let now = server.clock.now();
    let stats = store.sweep(now, now - retention).await.unwrap();
    assert_eq!(stats.requests, 1, "{stats:?}");
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "invalid_grant"
    );
    // Sweeping again changes nothing (any instance may sweep at any time).
    assert_eq!(
        store.sweep(now, now - retention).await.unwrap(),
        Default::default()
    );
}
