//! Bad requests get typed RFC 6749 errors and change nothing.

use ciba_e2e::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn bad_backchannel_requests_get_typed_errors_and_store_nothing() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("alice").await;
    let client = server.create_client(json!({})).await;
    let long = "x".repeat(65);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("login_hint", "alice")], "invalid_request"),
        (
            vec![("scope", "profile"), ("login_hint", "alice")],
            "invalid_scope",
        ),
        (
            vec![("scope", "openid admin"), ("login_hint", "alice")],
            "invalid_scope",
        ),
        (vec![("scope", "openid")], "invalid_request"),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("login_hint_token", "x"),
            ],
            "invalid_request",
        ),
        (
            vec![("scope", "openid"), ("login_hint_token", "x")],
            "invalid_request",
        ),
        (
            vec![("scope", "openid"), ("login_hint", "nobody")],
            "unknown_user_id",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("binding_message", "line\nbreak"),
            ],
            "invalid_binding_message",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("binding_message", &long),
            ],
            "invalid_binding_message",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("requested_expiry", "soon"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("requested_expiry", "-1"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("authorization_details", "{\"type\":1}"),
            ],
            "invalid_authorization_details",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("client_notification_token", "abc"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("request", "eyJ.eyJ.sig"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("scope", "openid"),
                ("login_hint", "alice"),
            ],
            "invalid_request",
        ),
    ];
    for (params, expected) in cases {
        let answer = server.backchannel(&client, &params).await;
        assert_eq!(answer.status, 400, "{params:?}: {}", answer.body);
        assert_eq!(answer.error(), expected, "{params:?}: {}", answer.body);
        assert_eq!(answer.headers["content-type"], "application/json");
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(!description.contains(['\r', '\n', '\t']));
    }
    // Nothing reached the user's device.
    assert!(sdk.pending().await.unwrap().is_empty());
    let (_, audit) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/audit?user_id={}", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(
        !audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "ciba_request")
    );
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let server = TestServer::start().await;
    server.create_user("bob").await;
    let client = server.create_client(json!({})).await;
    let params = [("scope", "openid"), ("login_hint", "bob")];
    let wrong = TestClient {
        secret: "wrong-secret".into(),
        ..client.clone()
    };
    let answer = server.backchannel(&wrong, &params).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    assert_eq!(answer.headers["www-authenticate"], "Basic realm=\"ciba\"");
    let unknown = TestClient {
        id: "nobody".into(),
        ..client.clone()
    };
    assert_eq!(server.backchannel(&unknown, &params).await.status, 401);
    let resp = server
        .http
        .post(server.url("/backchannel/authenticate"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Two methods at once.
    let resp = server
        .http
        .post(server.url("/backchannel/authenticate"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("scope", "openid"),
            ("login_hint", "bob"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Not a form.
    let resp = server
        .http
        .post(server.url("/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .json(&json!({"grant_type": "urn:openid:params:grant-type:ciba"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // Other grants.
    let answer = server
        .oauth_post(
            "/token",
            &client,
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;
    assert_eq!(answer.error(), "unsupported_grant_type");
    let answer = server
        .oauth_post(
            "/token",
            &client,
            &[("grant_type", "urn:openid:params:grant-type:ciba")],
        )
        .await;
    assert_eq!(answer.error(), "invalid_request");
}

#[tokio::test]
async fn login_hint_resolves_subject_username_email_and_phone_and_expiry_is_capped() {
    let server = TestServer::start().await;
    let (status, user) = server
        .admin(Method::POST, "/admin/v1/users", Some(json!({"username": "carol", "email": "carol@bank.example", "phone": "+33612345678"})))
        .await;
    assert_eq!(status, 201);
    let client = server.create_client(json!({})).await;
    for hint in [
        user["subject"].as_str().unwrap(),
        "carol",
        "carol@bank.example",
        "+33612345678",
    ] {
        let answer = server
            .backchannel(
                &client,
                &[
                    ("scope", "openid"),
                    ("login_hint", hint),
                    ("requested_expiry", "99999"),
                ],
            )
            .await;
        assert_eq!(answer.status, 200, "{hint}: {}", answer.body);
        assert_eq!(answer.body["expires_in"], 1800, "capped");
        assert_eq!(answer.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn discovery_jwks_and_health() {
    let server = TestServer::start().await;
    let meta = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(meta["issuer"], server.issuer.as_str());
    assert_eq!(
        meta["backchannel_authentication_endpoint"],
        server.url("/backchannel/authenticate")
    );
    assert_eq!(meta["token_endpoint"], server.url("/token"));
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:openid:params:grant-type:ciba"))
    );
    assert_eq!(
        meta["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping", "push"])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256"])
    );
    // The scopes: the OpenID ones, and every scope a registered client may request (none yet).
    assert_eq!(
        meta["scopes_supported"],
        json!(["email", "openid", "phone", "profile"])
    );
    server.create_client(json!({})).await;
    let meta = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        meta["scopes_supported"],
        json!([
            "accounts", "email", "openid", "payments", "phone", "profile"
        ])
    );
    let jwks: serde_json::Value = server
        .http
        .get(meta["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // One key per algorithm, public parts only.
    let keys = jwks["keys"].as_array().unwrap();
    let mut shapes: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [("EC", "ES256"), ("RSA", "PS256"), ("RSA", "RS256")]
    );
    for key in keys {
        if key["kty"] == "EC" {
            assert_eq!(key["crv"], "P-256");
        }
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "no private part: {key}");
        }
        assert_eq!(key["use"], "sig");
    }
    assert_eq!(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        server
            .http
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let missing = server.http.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["error"],
        "not_found"
    );
}

#[tokio::test]
async fn the_http_layer_answers_its_own_refusals_in_json() {
    let server = TestServer::start().await;
    let client = server.create_client(json!({})).await;
    // A body over the 64 KiB limit, at an OAuth endpoint, the device API and the admin API.
    let big = "x".repeat(70 * 1024);
    let oversized = [
        server
            .http
            .post(server.url("/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=urn:openid:params:grant-type:ciba&auth_req_id={big}"
            )),
        server
            .http
            .post(server.url("/admin/v1/users"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(format!("{{\"username\":\"{big}\"}}")),
    ];
    for request in oversized {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (status, body) = json_answer(response).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("invalid_request")),
            "{body}"
        );
    }
    // No such route, and a route with the wrong method.
    let (status, body) = json_answer(
        server
            .http
            .get(server.url("/nowhere"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) =
        json_answer(server.http.get(server.url("/token")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("invalid_request"))
    );
    // A path parameter that is not text (invalid UTF-8 once decoded).
    let (status, body) = json_answer(
        server
            .http
            .get(server.url("/admin/v1/users/%FF%FE"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
}
