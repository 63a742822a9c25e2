//! The CIBA poll flow end to end: request, the SDK decides, the client polls.

use ciba_core::authenticator::AuthenticatorError;
use ciba_core::clock::Clock;
use ciba_core::protocol::{DecisionAction, DecisionStatus, DenyReason, TransactionStatus};
use ciba_e2e::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

/// Verifies a JWT with the server's published JWKS (an independent JOSE implementation).
pub async fn verify_with_jwks(server: &TestServer, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published in JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&server.issuer]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn approve_then_tokens_signed_by_published_key() {
    let server = TestServer::start().await;
    let (user, sdk, account) = server.user_with_device("alice").await;
    assert_eq!(account.subject, user["subject"]);
    let client = server.create_client(serde_json::json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;
    assert!(auth_req_id.len() >= 27, "≥ 160 bits");

    let pending = sdk.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    let txn = &pending[0];
    assert_eq!(txn.view.client.name, "Customer Service Console");
    assert_eq!(txn.view.client.client_id, client.id);
    assert_eq!(txn.view.binding_message.as_deref(), Some("W4-7QX"));
    assert_eq!(txn.view.scope, ["openid", "accounts"]);
    assert_eq!(txn.view.authorization_details, None);
    assert_eq!(txn.view.status, TransactionStatus::Pending);

    // Before the decision: authorization_pending.
    let early = server.poll(&client, &auth_req_id).await;
    assert_eq!(
        (early.status, early.error()),
        (400, "authorization_pending")
    );

    let decided_at = server.clock.now();
    assert_eq!(
        sdk.approve(txn, vec!["swk".into()]).await.unwrap(),
        DecisionStatus::Approved
    );
    server.clock.advance(10);
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(answer.body["expires_in"].as_i64().unwrap() > 0);

    let id = verify_with_jwks(
        &server,
        answer.body["id_token"].as_str().unwrap(),
        &client.id,
    )
    .await;
    assert_eq!(id["sub"], user["subject"]);
    assert_eq!(id["amr"], serde_json::json!(["swk"]));
    assert_eq!(id["auth_time"], decided_at);
    let access_token = answer.body["access_token"].as_str().unwrap();
    let expected_at_hash = {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(access_token.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    };
    assert_eq!(id["at_hash"], expected_at_hash);

    assert_eq!(
        decode_header(access_token).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    let at = verify_with_jwks(&server, access_token, &server.issuer).await;
    assert_eq!(at["client_id"], client.id);
    assert_eq!(at["sub"], user["subject"]);
    assert_eq!(at["scope"], "openid accounts");

    // Issued once.
    let again = server.poll(&client, &auth_req_id).await;
    assert_eq!((again.status, again.error()), (400, "invalid_grant"));
    // The device now sees it as approved, and nothing pending.
    assert!(sdk.pending().await.unwrap().is_empty());
    let seen = sdk.transaction(&account.id, &txn.view.id).await.unwrap();
    assert_eq!(seen.view.status, TransactionStatus::Approved);
}

#[tokio::test]
async fn deny_gives_access_denied_every_time() {
    let server = TestServer::start().await;
    let (_user, sdk, _account) = server.user_with_device("bob").await;
    let client = server.create_client(serde_json::json!({})).await;
    let auth_req_id = server.start_ciba(&client, "bob").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        sdk.deny(&txn, DenyReason::UserDeclined).await.unwrap(),
        DecisionStatus::Denied
    );
    for _ in 0..2 {
        let answer = server.poll(&client, &auth_req_id).await;
        assert_eq!((answer.status, answer.error()), (400, "access_denied"));
        server.clock.advance(5);
    }
    // A second decision loses.
    let err = sdk.approve(&txn, vec!["swk".into()]).await.unwrap_err();
    assert!(matches!(err, AuthenticatorError::AlreadyDecided), "{err:?}");
}

#[tokio::test]
async fn expiry_gives_expired_token_and_the_record_outlives_it() {
    let server = TestServer::start().await;
    let (_user, sdk, account) = server.user_with_device("carol").await;
    let client = server.create_client(serde_json::json!({})).await;
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("login_hint", "carol"),
                ("requested_expiry", "30"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["expires_in"], 30);
    assert_eq!(answer.body["interval"], 5);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let txn = sdk.pending().await.unwrap().remove(0);
    let decision = sdk
        .build_decision(&txn, DecisionAction::Approve, vec!["swk".into()], None)
        .unwrap();

    server.clock.advance(31);
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!((answer.status, answer.error()), (400, "expired_token"));
    // A decision made in time but arriving late is refused by the server as expired.
    let (status, body) = post_decision(&server, &sdk, &account, &txn.view.id, &decision).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("expired")),
        "{body}"
    );
    // The SDK refuses locally too, and the device no longer lists it.
    assert!(matches!(
        sdk.approve(&txn, vec!["swk".into()]).await.unwrap_err(),
        AuthenticatorError::Expired
    ));
    assert!(sdk.pending().await.unwrap().is_empty());
    assert_eq!(
        sdk.transaction(&account.id, &txn.view.id)
            .await
            .unwrap()
            .view
            .status,
        TransactionStatus::Expired
    );
    // An hour later the tombstone still answers expired_token, not invalid_grant.
    server.clock.advance(3600);
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(answer.error(), "expired_token");
}

#[tokio::test]
async fn polling_faster_than_interval_gives_slow_down() {
    let server = TestServer::start().await;
    let (_user, _sdk, _account) = server.user_with_device("dave").await;
    let client = server.create_client(serde_json::json!({})).await;
    let auth_req_id = server.start_ciba(&client, "dave").await;
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "slow_down"
    );
    // slow_down raised the interval from 5 to 10 seconds.
    server.clock.advance(5);
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "slow_down"
    );
    server.clock.advance(15);
    assert_eq!(
        server.poll(&client, &auth_req_id).await.error(),
        "authorization_pending"
    );
}

#[tokio::test]
async fn another_clients_or_unknown_auth_req_id_is_invalid_grant() {
    let server = TestServer::start().await;
    let (_user, sdk, _account) = server.user_with_device("erin").await;
    let owner = server.create_client(serde_json::json!({})).await;
    let other = server
        .create_client(serde_json::json!({"name": "Other Shop"}))
        .await;
    let auth_req_id = server.start_ciba(&owner, "erin").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();

    let stolen = server.poll(&other, &auth_req_id).await;
    assert_eq!((stolen.status, stolen.error()), (400, "invalid_grant"));
    let unknown = server.poll(&owner, "bm90LWEtcmVhbC1hdXRoLXJlcS1pZA").await;
    assert_eq!(unknown.error(), "invalid_grant");
    // The rightful client still gets its tokens, once.
    assert_eq!(server.poll(&owner, &auth_req_id).await.status, 200);
    assert_eq!(
        server.poll(&owner, &auth_req_id).await.error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn client_secret_post_and_rich_requests_are_shown_and_bound() {
    let server = TestServer::start_with(|s| {
        s.attestation.acr_levels = vec![ciba_server::config::AcrLevel {
            value: "urn:bank:acr:strong".into(),
            amr: Vec::new(),
        }];
    })
    .await;
    let (user, sdk, _account) = server.user_with_device("frank").await;
    let client = server
        .create_client(serde_json::json!({"token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let details = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A"}]"#;
    let email_hint = user["username"].as_str().unwrap().to_owned();
    let answer = server
        .backchannel(
            &client,
            &[
                ("scope", "payments openid openid"),
                ("login_hint", &email_hint),
                ("binding_message", "Pay 123.50 EUR"),
                ("acr_values", "urn:bank:acr:strong"),
                ("authorization_details", details),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let txn = sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        txn.view.scope,
        ["payments", "openid"],
        "deduplicated, order kept"
    );
    assert_eq!(txn.view.acr_values, ["urn:bank:acr:strong"]);
    let shown = txn.view.authorization_details.clone().unwrap();
    assert_eq!(shown[0]["creditorName"], "Merchant A");
    let consent = txn.view.consent_string().unwrap();
    assert!(consent.ends_with(r#"[{"creditorName":"Merchant A","instructedAmount":{"amount":"123.50","currency":"EUR"},"type":"payment_initiation"}]"#), "{consent}");
    sdk.approve(&txn, vec!["hwk".into(), "face".into()])
        .await
        .unwrap();
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap();
    let tokens = server.poll(&client, auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["scope"], "payments openid");

    // A Basic-registered client that authenticates by post is refused.
    let basic = server.create_client(serde_json::json!({})).await;
    let wrong_method = TestClient {
        post: true,
        ..basic
    };
    let answer = server
        .backchannel(
            &wrong_method,
            &[("scope", "openid"), ("login_hint", "frank")],
        )
        .await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
}

#[tokio::test]
async fn id_token_hint_identifies_the_user_even_when_expired() {
    let server = TestServer::start().await;
    let (_user, sdk, _account) = server.user_with_device("gina").await;
    let client = server.create_client(serde_json::json!({})).await;
    let auth_req_id = server.start_ciba(&client, "gina").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let id_token = server.poll(&client, &auth_req_id).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_owned();

    server.clock.advance(7 * 24 * 3600);
    let answer = server
        .backchannel(
            &client,
            &[("scope", "openid"), ("id_token_hint", &id_token)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sdk.pending().await.unwrap().len(), 1);

    // A token signed by someone else is not a hint.
    let mut forged = id_token.clone();
    forged.pop();
    forged.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    let answer = server
        .backchannel(&client, &[("scope", "openid"), ("id_token_hint", &forged)])
        .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
}
