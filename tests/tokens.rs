//! The token lifecycle after the CIBA grant: refresh tokens (rotation, reuse detection, binding,
//! lifetimes), introspection (RFC 7662), revocation (RFC 7009), ID tokens in PS256 and RS256,
//! and signing-key rotation. On SQLite and, with `CIBA_TEST_POSTGRES_URL`, on PostgreSQL.

use ciba_core::clock::Clock;
use ciba_core::protocol::PushRegistration;
use ciba_e2e::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use reqwest::Method;
use serde_json::{Value, json};

const CIBA: &str = "urn:openid:params:grant-type:ciba";

/// A client that registered the refresh grant.
async fn refresh_client(server: &TestServer, extra: Value) -> TestClient {
    let mut body = json!({"grant_types": [CIBA, "refresh_token"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    server.create_client(body).await
}

/// Runs one approval for `username` (who has a device) and redeems it: the token answer.
async fn approved_tokens(
    server: &TestServer,
    sdk: &ciba_core::authenticator::Authenticator,
    client: &TestClient,
    username: &str,
) -> Value {
    let auth_req_id = server.start_ciba(client, username).await;
    let txn = sdk
        .pending()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.view.client.client_id == client.id)
        .unwrap();
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    server.clock.advance(6);
    let answer = server.poll(client, &auth_req_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn refresh(server: &TestServer, client: &TestClient, token: &str) -> OAuthAnswer {
    server
        .oauth_post(
            "/token",
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

async fn userinfo(server: &TestServer, access_token: &str) -> (u16, Value) {
    json_answer(
        server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn introspect(server: &TestServer, client: &TestClient, token: &str) -> OAuthAnswer {
    server
        .oauth_post("/introspect", client, &[("token", token)])
        .await
}

/// `POST /revoke`: status and body text (RFC 7009 answers 200 with an empty body).
async fn revoke(server: &TestServer, client: &TestClient, token: &str) -> (u16, String) {
    let response = server
        .http
        .post(server.url("/revoke"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_a_reuse_revokes_the_whole_grant() {
    let server = TestServer::start().await;
    let (user, sdk, _) = server.user_with_device("alice").await;
    let client = refresh_client(&server, json!({})).await;
    let first = approved_tokens(&server, &sdk, &client, "alice").await;
    let rt1 = text(&first, "refresh_token").to_owned();
    assert!(rt1.len() >= 43, "256-bit refresh tokens");

    server.clock.advance(60);
    let second = refresh(&server, &client, &rt1).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.headers["cache-control"], "no-store");
    let rt2 = text(&second.body, "refresh_token").to_owned();
    assert_ne!(rt2, rt1, "rotated");
    assert_eq!(second.body["scope"], first["scope"]);
    let id = ciba_e2e::jwt_claims(text(&second.body, "id_token"));
    assert_eq!(id["sub"], user["subject"]);
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(
        id["amr"],
        json!(["swk"]),
        "the approval's methods, not new ones"
    );
    let at2 = text(&second.body, "access_token").to_owned();
    assert_eq!(userinfo(&server, &at2).await.0, 200);

    // The used token again: refused, and every token of the grant with it.
    let reuse = refresh(&server, &client, &rt1).await;
    assert_eq!((reuse.status, reuse.error()), (400, "invalid_grant"));
    assert!(
        text(&reuse.body, "error_description").contains("used before"),
        "{}",
        reuse.body
    );
    let after = refresh(&server, &client, &rt2).await;
    assert_eq!(
        (after.status, after.error()),
        (400, "invalid_grant"),
        "the newest token of the family is revoked too"
    );
    let (status, body) = userinfo(&server, &at2).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_token")));
    let first_at = text(&first, "access_token");
    assert_eq!(userinfo(&server, first_at).await.0, 401);
    let events = server.audit_events(user["id"].as_str().unwrap()).await;
    assert!(
        events.iter().any(|e| e["kind"] == "refresh_token_reuse"),
        "{events:?}"
    );
    assert!(
        server
            .metrics()
            .await
            .contains("ciba_refresh_token_reuse_total 1")
    );
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client_and_to_the_registered_grant() {
    let server = TestServer::start().await;
    let (_, sdk, _) = server.user_with_device("bob").await;
    let holder = refresh_client(&server, json!({})).await;
    let thief = refresh_client(&server, json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &holder, "bob").await;
    let rt = text(&tokens, "refresh_token");

    let stolen = refresh(&server, &thief, rt).await;
    assert_eq!((stolen.status, stolen.error()), (400, "invalid_grant"));
    // The refusal changed nothing: the holder still refreshes.
    assert_eq!(refresh(&server, &holder, rt).await.status, 200);

    // A client without the refresh grant gets no refresh token and may not use the grant.
    let plain = server.create_client(json!({})).await;
    let plain_tokens = approved_tokens(&server, &sdk, &plain, "bob").await;
    assert!(
        plain_tokens.get("refresh_token").is_none(),
        "{plain_tokens}"
    );
    let refused = refresh(&server, &plain, "anything").await;
    assert_eq!(
        (refused.status, refused.error()),
        (400, "unauthorized_client")
    );
    let missing = server
        .oauth_post("/token", &holder, &[("grant_type", "refresh_token")])
        .await;
    assert_eq!((missing.status, missing.error()), (400, "invalid_request"));

    // Registration: only the two grants; the CIBA one required.
    for (grants, why) in [
        (json!(["refresh_token"]), "must include"),
        (json!([CIBA, "authorization_code"]), "not supported"),
    ] {
        let (status, body) = server
            .admin(
                Method::POST,
                "/admin/v1/clients",
                Some(json!({"name": "X", "backchannel_token_delivery_mode": "poll", "grant_types": grants})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_client_metadata");
        assert!(text(&body, "error_description").contains(why), "{body}");
    }
    let (_, registered) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/clients/{}", holder.id),
            None,
        )
        .await;
    assert_eq!(registered["grant_types"], json!([CIBA, "refresh_token"]));
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_the_grant_keeps_it_whole() {
    let server = TestServer::start().await;
    let (_, sdk, _) = server.user_with_device("carol").await;
    let client = refresh_client(&server, json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &client, "carol").await;
    assert_eq!(tokens["scope"], "openid accounts");
    let rt = text(&tokens, "refresh_token");

    let wider = server
        .oauth_post(
            "/token",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid payments"),
            ],
        )
        .await;
    assert_eq!((wider.status, wider.error()), (400, "invalid_scope"));
    let narrow = server
        .oauth_post(
            "/token",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(narrow.status, 200, "{}", narrow.body);
    assert_eq!(narrow.body["scope"], "openid");
    let at = ciba_e2e::jwt_claims(text(&narrow.body, "access_token"));
    assert_eq!(at["scope"], "openid");
    // The next refresh, without scope, gets all of the approval again.
    let whole = refresh(&server, &client, text(&narrow.body, "refresh_token")).await;
    assert_eq!(whole.body["scope"], "openid accounts");
}

#[tokio::test]
async fn refresh_tokens_expire_idle_and_absolutely() {
    let server = TestServer::start_with(|s| {
        s.tokens.refresh_token_ttl = 3600;
        s.tokens.refresh_token_absolute_ttl = 3 * 3600;
    })
    .await;
    let (_, sdk, _) = server.user_with_device("dave").await;
    let client = refresh_client(&server, json!({})).await;

    // Idle: unused for longer than refresh_token_ttl.
    let tokens = approved_tokens(&server, &sdk, &client, "dave").await;
    server.clock.advance(3600);
    let idle = refresh(&server, &client, text(&tokens, "refresh_token")).await;
    assert_eq!((idle.status, idle.error()), (400, "invalid_grant"));

    // Absolute: used every 50 minutes, the grant still ends 3 hours after the approval.
    let tokens = approved_tokens(&server, &sdk, &client, "dave").await;
    let mut rt = text(&tokens, "refresh_token").to_owned();
    let mut refreshed = 0;
    loop {
        server.clock.advance(3000);
        let answer = refresh(&server, &client, &rt).await;
        if answer.status != 200 {
            assert_eq!(answer.error(), "invalid_grant");
            break;
        }
        rt = text(&answer.body, "refresh_token").to_owned();
        refreshed += 1;
        let introspected = introspect(&server, &client, &rt).await;
        assert!(introspected.body["exp"].as_i64().unwrap() <= server.clock.now() + 3600);
    }
    assert_eq!(
        refreshed, 3,
        "refreshes at 50, 100 and 150 minutes; the one at 200 is refused"
    );
}

#[tokio::test]
async fn introspection_tells_only_the_token_s_own_client_that_it_is_active() {
    let server = TestServer::start().await;
    let (user, sdk, _) = server.user_with_device("erin").await;
    let client = refresh_client(&server, json!({})).await;
    let other = server.create_client(json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &client, "erin").await;
    let at = text(&tokens, "access_token");
    let rt = text(&tokens, "refresh_token");

    let answer = introspect(&server, &client, at).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let body = &answer.body;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(body["sub"], user["subject"]);
    assert_eq!(body["scope"], "openid accounts");
    assert_eq!(body["iss"], server.issuer.as_str());
    assert!(body["exp"].as_i64().unwrap() > server.clock.now());

    let refresh_answer = introspect(&server, &client, rt).await;
    assert_eq!(refresh_answer.body["active"], true);
    assert_eq!(refresh_answer.body["token_type"], "refresh_token");
    assert_eq!(refresh_answer.body["sub"], user["subject"]);

    for (caller, token, why) in [
        (&other, at, "another client's access token"),
        (&other, rt, "another client's refresh token"),
        (&client, "not-a-token", "garbage"),
        (&client, text(&tokens, "id_token"), "an ID token"),
    ] {
        let answer = introspect(&server, caller, token).await;
        assert_eq!(answer.status, 200, "{why}");
        assert_eq!(answer.body, json!({"active": false}), "{why}");
    }

    // A rotated refresh token, an expired access token: inactive.
    assert_eq!(refresh(&server, &client, rt).await.status, 200);
    assert_eq!(
        introspect(&server, &client, rt).await.body,
        json!({"active": false})
    );
    server.clock.advance(601);
    assert_eq!(
        introspect(&server, &client, at).await.body,
        json!({"active": false})
    );

    // Malformed and unauthenticated calls.
    let missing = server.oauth_post("/introspect", &client, &[]).await;
    assert_eq!((missing.status, missing.error()), (400, "invalid_request"));
    let anonymous = OAuthAnswer::from(
        server
            .http
            .post(server.url("/introspect"))
            .form(&[("token", at)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (anonymous.status, anonymous.error()),
        (401, "invalid_client")
    );
}

#[tokio::test]
async fn revocation_is_idempotent_and_a_revoked_token_is_refused_everywhere() {
    let server = TestServer::start().await;
    let (_, sdk, _) = server.user_with_device("frank").await;
    let client = refresh_client(&server, json!({})).await;
    let other = refresh_client(&server, json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &client, "frank").await;
    let at = text(&tokens, "access_token");
    assert_eq!(userinfo(&server, at).await.0, 200);

    // Another client may not revoke it, and its attempt changes nothing.
    let (status, body) = revoke(&server, &other, at).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unauthorized_client"), "{body}");
    assert_eq!(userinfo(&server, at).await.0, 200);

    assert_eq!(revoke(&server, &client, at).await, (200, String::new()));
    assert_eq!(
        revoke(&server, &client, at).await,
        (200, String::new()),
        "twice"
    );
    let (status, body) = userinfo(&server, at).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(text(&body, "error_description").contains("revoked"));
    assert_eq!(
        introspect(&server, &client, at).await.body,
        json!({"active": false})
    );
    assert_eq!(revoke(&server, &client, "unknown").await.0, 200);

    // Revoking a refresh token ends the grant: it and the access tokens it issued.
    let rt = text(&tokens, "refresh_token");
    let refreshed = refresh(&server, &client, rt).await;
    let rt2 = text(&refreshed.body, "refresh_token");
    let at2 = text(&refreshed.body, "access_token");
    assert_eq!(revoke(&server, &client, rt2).await.0, 200);
    assert_eq!(
        refresh(&server, &client, rt2).await.error(),
        "invalid_grant"
    );
    assert_eq!(userinfo(&server, at2).await.0, 401);
    assert_eq!(revoke(&server, &client, rt2).await.0, 200, "again");

    let (status, body) = revoke(&server, &client, "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"));
}

#[tokio::test]
async fn a_locked_user_s_refresh_tokens_stop_working() {
    let server = TestServer::start().await;
    let (user, sdk, _) = server.user_with_device("gina").await;
    let client = refresh_client(&server, json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &client, "gina").await;
    let id = user["id"].as_str().unwrap();
    let (status, _) = server
        .admin(Method::POST, &format!("/admin/v1/users/{id}/lock"), None)
        .await;
    assert_eq!(status, 200);
    let rt = text(&tokens, "refresh_token");
    let answer = refresh(&server, &client, rt).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));
    assert_eq!(
        introspect(&server, &client, rt).await.body,
        json!({"active": false})
    );
    // Unlocking does not bring the grant back: it was revoked.
    server
        .admin(Method::POST, &format!("/admin/v1/users/{id}/unlock"), None)
        .await;
    assert_eq!(refresh(&server, &client, rt).await.error(), "invalid_grant");
}

/// The server's JWKS.
async fn jwks(server: &TestServer) -> JwkSet {
    server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies `token` with the published key its header names (jsonwebtoken, an independent JOSE
/// implementation); expiry is not checked (the tests move the server's clock).
async fn verify_published(server: &TestServer, token: &str, alg: Algorithm) -> Value {
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, alg);
    let set = jwks(server).await;
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .unwrap_or_else(|| panic!("kid {:?} is not published", header.kid));
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[&server.issuer]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn id_tokens_are_signed_with_each_client_s_registered_algorithm() {
    let server = TestServer::start().await;
    let (_, sdk, _) = server.user_with_device("hana").await;
    for (alg, algorithm) in [
        ("PS256", Algorithm::PS256),
        ("RS256", Algorithm::RS256),
        ("ES256", Algorithm::ES256),
    ] {
        let client = refresh_client(&server, json!({"id_token_signed_response_alg": alg})).await;
        let tokens = approved_tokens(&server, &sdk, &client, "hana").await;
        let id = verify_published(&server, text(&tokens, "id_token"), algorithm).await;
        assert_eq!(id["aud"], client.id.as_str(), "{alg}");
        // Access tokens keep the server's algorithm (tokens.access_token_signing_alg).
        verify_published(&server, text(&tokens, "access_token"), Algorithm::ES256).await;
        let refreshed = refresh(&server, &client, text(&tokens, "refresh_token")).await;
        verify_published(&server, text(&refreshed.body, "id_token"), algorithm).await;
        // The server accepts its own PS256/RS256 ID tokens as id_token_hint.
        let hint = server
            .backchannel(
                &client,
                &[
                    ("scope", "openid"),
                    ("id_token_hint", text(&tokens, "id_token")),
                ],
            )
            .await;
        assert_eq!(hint.status, 200, "{alg}: {}", hint.body);
    }
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "X", "backchannel_token_delivery_mode": "poll",
                        "id_token_signed_response_alg": "HS256"}),
            ),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_client_metadata"))
    );
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256"])
    );
    assert_eq!(
        discovery["grant_types_supported"],
        json!([CIBA, "refresh_token"])
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{}/introspect", server.issuer)
    );
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{}/revoke", server.issuer)
    );
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_kept_until_its_tokens_expire() {
    let server = TestServer::start_with(|s| {
        s.tokens.key_publish_ahead = 600;
        s.tokens.access_token_ttl = 3600;
    })
    .await;
    let (_, sdk, _) = server.user_with_device("ivan").await;
    let client = refresh_client(&server, json!({})).await;
    let before = approved_tokens(&server, &sdk, &client, "ivan").await;
    let old_kid = decode_header(text(&before, "access_token"))
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(jwks(&server).await.keys.len(), 3, "one key per algorithm");

    let (status, rotated) = server
        .admin(Method::POST, "/admin/v1/signing-keys/rotate", None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let keys = rotated["keys"].as_array().unwrap();
    let next: Vec<&Value> = keys.iter().filter(|k| k["state"] == "next").collect();
    assert_eq!(next.len(), 3, "{rotated}");
    let new_es256 = next.iter().find(|k| k["alg"] == "ES256").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Published at once, not yet signing.
    assert_eq!(jwks(&server).await.keys.len(), 6);
    let during = approved_tokens(&server, &sdk, &client, "ivan").await;
    assert_eq!(
        decode_header(text(&during, "access_token"))
            .unwrap()
            .kid
            .unwrap(),
        old_kid
    );

    // After key_publish_ahead the new key signs; the old one still verifies what it signed.
    server.clock.advance(600);
    let after = approved_tokens(&server, &sdk, &client, "ivan").await;
    assert_eq!(
        decode_header(text(&after, "access_token"))
            .unwrap()
            .kid
            .unwrap(),
        new_es256
    );
    verify_published(&server, text(&during, "access_token"), Algorithm::ES256).await;
    assert_eq!(
        userinfo(&server, text(&during, "access_token")).await.0,
        200,
        "a token of the retired key, unexpired, still opens UserInfo"
    );
    let (_, listed) = server
        .admin(Method::GET, "/admin/v1/signing-keys", None)
        .await;
    let old = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["state"], "retired", "{listed}");
    let until = old["published_until"].as_i64().unwrap();
    let activated = next.iter().find(|k| k["alg"] == "ES256").unwrap()["activates_at"]
        .as_i64()
        .unwrap();
    assert_eq!(
        until,
        activated + 3600 + 60,
        "the longest token lifetime and a minute"
    );

    // Once everything it signed has expired, the old key leaves the JWKS and verifies nothing.
    server.clock.set(until);
    let set = jwks(&server).await;
    assert!(set.find(&old_kid).is_none(), "the retired key is gone");
    assert!(set.find(&new_es256).is_some());
    assert_eq!(set.keys.len(), 3);
    let hint = server
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                ("id_token_hint", text(&during, "id_token")),
            ],
        )
        .await;
    assert_eq!(
        (hint.status, hint.error()),
        (400, "invalid_request"),
        "an ID token of a key that is gone is not this server's any more"
    );
}

#[tokio::test]
async fn push_mode_delivers_a_refresh_token_with_its_rt_hash() {
    use crate::notify::{Receiver, dev_server, start};
    let server = dev_server().await;
    let receiver = Receiver::start(&[]).await;
    let (user, sdk, _) = server.user_with_device("jane").await;
    let client = server
        .create_client(json!({"backchannel_token_delivery_mode": "push",
                              "backchannel_client_notification_endpoint": receiver.url(),
                              "grant_types": [CIBA, "refresh_token"]}))
        .await;
    let auth_req_id = start(&server, &client, "jane", "push-token").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    let got = receiver.wait_for(1).await;
    let body = &got[0].body;
    assert_eq!(body["auth_req_id"], auth_req_id.as_str());
    let rt = text(body, "refresh_token");
    let id = crate::flows::verify_with_jwks(&server, text(body, "id_token"), &client.id).await;
    assert_eq!(id["sub"], user["subject"]);
    let rt_hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&sha2::Sha256::digest(rt.as_bytes())[..16])
    };
    assert_eq!(id["urn:openid:params:jwt:claim:rt_hash"], rt_hash);
    // The pushed refresh token works at the token endpoint (push clients refresh like others).
    let refreshed = refresh(&server, &client, rt).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let id = ciba_e2e::jwt_claims(text(&refreshed.body, "id_token"));
    assert!(
        id.get("urn:openid:params:jwt:claim:rt_hash").is_none(),
        "rt_hash is for push-mode delivery only"
    );
}

#[tokio::test]
async fn every_instance_publishes_a_rotated_key_before_it_signs() {
    let server = TestServer::start_with(|s| s.tokens.key_publish_ahead = 600).await;
    let other = server.another_instance().await;
    assert_eq!(jwks(&other).await.keys.len(), 3);
    let (status, _) = server
        .admin(Method::POST, "/admin/v1/signing-keys/rotate", None)
        .await;
    assert_eq!(status, 200);
    // The other instance reads the keys again within a minute, well before the new keys sign.
    server.clock.advance(61);
    assert_eq!(jwks(&other).await.keys.len(), 6);
    let (_, listed) = other
        .admin(Method::GET, "/admin/v1/signing-keys", None)
        .await;
    let states: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "next").count(),
        3,
        "{listed}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        3,
        "{listed}"
    );
}

/// An issuer of login_hint_tokens: a P-256 key, its JWK Set, and JWTs signed with it.
struct HintIssuer {
    pkcs8: Vec<u8>,
    jwks: Value,
}

impl HintIssuer {
    fn new(kid: &str) -> Self {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let jwk = p256_jwk(pair.public_key().as_ref(), kid);
        Self {
            pkcs8: pkcs8.as_ref().to_vec(),
            jwks: json!({"keys": [jwk]}),
        }
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .unwrap()
    }
}

#[tokio::test]
async fn login_hint_tokens_from_a_trusted_issuer_name_the_user_by_subject_identifier() {
    let trusted = HintIssuer::new("hint-1");
    let stranger = HintIssuer::new("hint-1");
    let jwks = trusted.jwks.to_string();
    let server = TestServer::start_with(move |s| {
        s.ciba.login_hint_token_issuers = vec![ciba_server::config::HintTokenIssuer {
            issuer: "https://idp.bank.example".into(),
            jwks: Some(jwks),
            jwks_uri: None,
        }];
    })
    .await;
    let (status, user) = server
        .admin(
            Method::POST,
            "/admin/v1/users",
            Some(json!({"username": "kim", "email": "kim@bank.example", "phone": "+15550100"})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (sdk, _) = server
        .enroll_device(user["id"].as_str().unwrap(), PushRegistration::none())
        .await;
    let client = server.create_client(json!({})).await;
    let now = server.clock.now();
    let claims = |sub_id: Value| {
        json!({"iss": "https://idp.bank.example", "aud": server.issuer, "iat": now,
               "exp": now + 300, "sub_id": sub_id})
    };
    let start = |token: String| {
        let server = &server;
        let client = &client;
        async move {
            server
                .backchannel(
                    client,
                    &[("scope", "openid"), ("login_hint_token", token.as_str())],
                )
                .await
        }
    };
    // Each format names kim; the request reaches her phone.
    for sub_id in [
        json!({"format": "email", "email": "kim@bank.example"}),
        json!({"format": "phone_number", "phone_number": "+15550100"}),
        json!({"format": "iss_sub", "iss": server.issuer, "sub": user["subject"]}),
        json!({"format": "opaque", "id": "kim"}),
    ] {
        let answer = start(trusted.sign("hint-1", &claims(sub_id.clone()))).await;
        assert_eq!(answer.status, 200, "{sub_id}: {}", answer.body);
    }
    assert_eq!(sdk.pending().await.unwrap().len(), 4);

    let refusals = [
        (
            trusted.sign("hint-1", &json!({"iss": "https://idp.bank.example", "aud": server.issuer,
                                           "exp": now - 1, "sub_id": {"format": "opaque", "id": "kim"}})),
            "expired_login_hint_token",
        ),
        (
            stranger.sign("hint-1", &claims(json!({"format": "opaque", "id": "kim"}))),
            "invalid_request",
        ),
        (
            trusted.sign("hint-1", &json!({"iss": "https://other.example", "aud": server.issuer,
                                           "exp": now + 60, "sub_id": {"format": "opaque", "id": "kim"}})),
            "invalid_request",
        ),
        (
            trusted.sign("hint-1", &json!({"iss": "https://idp.bank.example", "aud": "https://elsewhere.example",
                                           "exp": now + 60, "sub_id": {"format": "opaque", "id": "kim"}})),
            "invalid_request",
        ),
        (
            trusted.sign("hint-1", &json!({"iss": "https://idp.bank.example", "aud": server.issuer,
                                           "sub_id": {"format": "opaque", "id": "kim"}})),
            "invalid_request",
        ),
        (
            trusted.sign("hint-1", &claims(json!({"format": "email", "email": "nobody@bank.example"}))),
            "unknown_user_id",
        ),
        (
            // kim's email, but as a phone number: a hint names a user by the kind it says.
            trusted.sign("hint-1", &claims(json!({"format": "phone_number", "phone_number": "kim@bank.example"}))),
            "unknown_user_id",
        ),
        (
            trusted.sign("hint-1", &claims(json!({"format": "iss_sub", "iss": "https://other.example", "sub": user["subject"]}))),
            "unknown_user_id",
        ),
        (
            trusted.sign("hint-1", &claims(json!({"format": "account", "uri": "acct:kim@bank.example"}))),
            "invalid_request",
        ),
        ("not.a.jwt".to_owned(), "invalid_request"),
    ];
    for (token, error) in refusals {
        let answer = start(token).await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, error),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        sdk.pending().await.unwrap().len(),
        4,
        "no refused hint started a request"
    );

    // Without a trusted issuer the parameter is refused.
    let plain = TestServer::start().await;
    let client = plain.create_client(json!({})).await;
    let answer = plain
        .backchannel(
            &client,
            &[
                ("scope", "openid"),
                (
                    "login_hint_token",
                    &trusted.sign("hint-1", &claims(json!({"format": "opaque", "id": "kim"}))),
                ),
            ],
        )
        .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
}

#[tokio::test]
async fn user_codes_are_checked_against_an_argon2id_hash_and_wrong_ones_lock_the_user() {
    let server = TestServer::start_with(|s| {
        s.ciba.user_code = true;
        s.ciba.user_code_max_failures = 3;
    })
    .await;
    let (user, sdk, _) = server.user_with_device("lena").await;
    let id = user["id"].as_str().unwrap();
    let client = server
        .create_client(json!({"backchannel_user_code_parameter": true}))
        .await;
    let ask = |code: Option<&'static str>| {
        let server = &server;
        let client = &client;
        async move {
            let mut params = vec![("scope", "openid"), ("login_hint", "lena")];
            if let Some(code) = code {
                params.push(("user_code", code));
            }
            server.backchannel(client, &params).await
        }
    };
    // No code set yet: no code is right.
    assert_eq!(ask(Some("4711")).await.error(), "invalid_user_code");
    let (status, _) = server
        .admin(
            Method::PUT,
            &format!("/admin/v1/users/{id}/user-code"),
            Some(json!({"user_code": "4711-blue"})),
        )
        .await;
    assert_eq!(status, 204);
    // Stored as an Argon2id PHC string, never in clear.
    let stored = server.store().user_code(id).await.unwrap().unwrap();
    assert!(stored.0.starts_with("$argon2id$v=19$"), "{}", stored.0);
    assert!(!stored.0.contains("4711"));

    assert_eq!(ask(None).await.error(), "missing_user_code");
    assert_eq!(ask(Some("4711-blue")).await.status, 200);
    assert_eq!(ask(Some("4711-red")).await.error(), "invalid_user_code");
    assert_eq!(ask(Some("4711-red")).await.error(), "invalid_user_code");
    // A right code resets the count.
    assert_eq!(ask(Some("4711-blue")).await.status, 200);
    assert_eq!(sdk.pending().await.unwrap().len(), 2);
    for _ in 0..3 {
        assert_eq!(ask(Some("0000")).await.error(), "invalid_user_code");
    }
    // The third wrong code in a row locked lena: her pending requests are cancelled, and even
    // the right code is refused now, generically.
    let (_, after) = server
        .admin(Method::GET, &format!("/admin/v1/users/{id}"), None)
        .await;
    assert_eq!(after["status"], "locked", "{after}");
    assert!(sdk.pending().await.unwrap().is_empty());
    assert_eq!(ask(Some("4711-blue")).await.error(), "access_denied");
    let events = server.audit_events(id).await;
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "user_code_failed" && e["detail"]["locked"] == true),
        "{events:?}"
    );

    // A client that did not register the parameter may not send it; registration needs the
    // server to enable it.
    server
        .admin(Method::POST, &format!("/admin/v1/users/{id}/unlock"), None)
        .await;
    let plain = server.create_client(json!({})).await;
    let answer = server
        .backchannel(
            &plain,
            &[
                ("scope", "openid"),
                ("login_hint", "lena"),
                ("user_code", "x"),
            ],
        )
        .await;
    assert_eq!(answer.error(), "invalid_request");
    let (status, body) = server
        .admin(
            Method::PUT,
            &format!("/admin/v1/users/{id}/user-code"),
            Some(json!({"user_code": "123"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let off = TestServer::start().await;
    let (status, body) = off
        .admin(
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "X", "backchannel_token_delivery_mode": "poll",
                        "backchannel_user_code_parameter": true}),
            ),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_client_metadata"))
    );
}

/// A JSON call with a bearer token (`None`: without one): status and body.
async fn bearer_json(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.http.request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_answer(request.send().await.unwrap()).await
}

#[tokio::test]
async fn dynamic_registration_with_an_initial_access_token_and_its_management() {
    let server = TestServer::start().await;
    let (_, sdk, _) = server.user_with_device("mia").await;
    let metadata = json!({
        "client_name": "Branch Terminal 7",
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid accounts",
        "grant_types": [CIBA, "refresh_token"],
        // Metadata this server does not know is ignored (RFC 7591 §2).
        "redirect_uris": ["https://terminal.bank.example/cb"],
        "software_version": "7.1",
    });

    // No token, an unknown token: 401 invalid_token, nothing registered.
    for token in [None, Some("made-up")] {
        let (status, body) = bearer_json(
            &server,
            Method::POST,
            "/register",
            token,
            Some(metadata.clone()),
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_token")),
            "{body}"
        );
    }
    let (status, issued) = server
        .admin(
            Method::POST,
            "/admin/v1/initial-access-tokens",
            Some(json!({"expires_in": 3600, "max_uses": 2})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let iat = text(&issued, "initial_access_token").to_owned();

    // Invalid metadata is refused as the admin API refuses it, and does not use the token up.
    let (status, body) = bearer_json(
        &server,
        Method::POST,
        "/register",
        Some(&iat),
        Some(json!({"client_name": "X", "backchannel_token_delivery_mode": "carrier-pigeon"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_client_metadata")),
        "{body}"
    );

    let (status, registered) = bearer_json(
        &server,
        Method::POST,
        "/register",
        Some(&iat),
        Some(metadata.clone()),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["client_name"], "Branch Terminal 7");
    assert_eq!(registered["grant_types"], json!([CIBA, "refresh_token"]));
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert!(registered.get("redirect_uris").is_none());
    let client = TestClient {
        id: text(&registered, "client_id").into(),
        secret: text(&registered, "client_secret").into(),
        post: false,
    };
    let rat = text(&registered, "registration_access_token").to_owned();
    let uri = text(&registered, "registration_client_uri").to_owned();
    assert_eq!(uri, format!("{}/register/{}", server.issuer, client.id));
    let path = format!("/register/{}", client.id);

    // The registered client works end to end.
    let tokens = approved_tokens(&server, &sdk, &client, "mia").await;
    assert!(tokens.get("refresh_token").is_some());

    // RFC 7592: read, replace, delete — only with the registration access token.
    let (status, read) = bearer_json(&server, Method::GET, &path, Some(&rat), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_id"], client.id.as_str());
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );
    for token in [None, Some(iat.as_str()), Some("made-up")] {
        let (status, _) = bearer_json(&server, Method::GET, &path, token, None).await;
        assert_eq!(status, 401);
    }
    let (status, updated) = bearer_json(
        &server,
        Method::PUT,
        &path,
        Some(&rat),
        Some(
            json!({"client_id": client.id, "client_name": "Branch Terminal 7b",
                    "backchannel_token_delivery_mode": "poll", "scope": "openid"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Branch Terminal 7b");
    assert_eq!(
        updated["grant_types"],
        json!([CIBA]),
        "replaced, not merged"
    );
    assert!(updated.get("client_secret").is_none(), "the secret is kept");
    // The kept secret still authenticates, and the new scope applies at once.
    let answer = server
        .backchannel(
            &client,
            &[("scope", "openid accounts"), ("login_hint", "mia")],
        )
        .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_scope"));
    let (status, body) = bearer_json(
        &server,
        Method::PUT,
        &path,
        Some(&rat),
        Some(json!({"client_id": "someone-else", "client_name": "Y", "backchannel_token_delivery_mode": "poll"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_client_metadata"))
    );
    // An admin-registered client cannot be managed through /register.
    let admin_client = server.create_client(json!({})).await;
    let (status, _) = bearer_json(
        &server,
        Method::GET,
        &format!("/register/{}", admin_client.id),
        Some(&rat),
        None,
    )
    .await;
    assert_eq!(status, 401);

    let response = server
        .http
        .delete(server.url(&path))
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = bearer_json(&server, Method::GET, &path, Some(&rat), None).await;
    assert_eq!(status, 401, "gone");
    let answer = server.poll(&client, "whatever").await;
    assert_eq!(
        answer.status, 401,
        "the deleted client no longer authenticates"
    );

    // The token allowed two registrations: the second uses it up.
    let (status, _) = bearer_json(
        &server,
        Method::POST,
        "/register",
        Some(&iat),
        Some(metadata.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = bearer_json(
        &server,
        Method::POST,
        "/register",
        Some(&iat),
        Some(metadata.clone()),
    )
    .await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_token")));
    // An expired token is refused too.
    let (_, short) = server
        .admin(
            Method::POST,
            "/admin/v1/initial-access-tokens",
            Some(json!({"expires_in": 60})),
        )
        .await;
    server.clock.advance(61);
    let (status, _) = bearer_json(
        &server,
        Method::POST,
        "/register",
        short["initial_access_token"].as_str(),
        Some(metadata),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = server
        .admin(
            Method::POST,
            "/admin/v1/initial-access-tokens",
            Some(json!({"expires_in": 0})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_refresh_token_issue_tokens_once() {
    let server = TestServer::start().await;
    let other = server.another_instance().await;
    let (_, sdk, _) = server.user_with_device("nina").await;
    let client = refresh_client(&server, json!({})).await;
    let tokens = approved_tokens(&server, &sdk, &client, "nina").await;
    let rt = text(&tokens, "refresh_token").to_owned();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8 {
        let target = if n % 2 == 0 { &server } else { &other };
        let request = target
            .http
            .post(target.url("/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ]);
        calls.spawn(async move { OAuthAnswer::from(request.send().await.unwrap()).await });
    }
    let answers: Vec<OAuthAnswer> = calls.join_all().await;
    let won: Vec<&OAuthAnswer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for lost in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(lost.error(), "invalid_grant");
    }
    // The losers were reuses of a used token: the grant is revoked, the winner's tokens too.
    let winner_rt = text(&won[0].body, "refresh_token");
    assert_eq!(
        refresh(&server, &client, winner_rt).await.error(),
        "invalid_grant"
    );
    assert_eq!(
        userinfo(&server, text(&won[0].body, "access_token"))
            .await
            .0,
        401
    );
}
