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

/// Every page of a listing, following `next_cursor`.
async fn all_pages(server: &TestServer, path: &str, name: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = server.admin(Method::GET, &url, None).await;
        assert_eq!(status, 200, "{url}: {body}");
        items.extend(body[name].as_array().unwrap().iter().cloned());
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn listings_search_filter_and_page_with_cursors() {
    let server = TestServer::start().await;
    for n in 0..7 {
        // Users created in the same second page in id order; a second apart, in time order.
        server.clock.advance(1);
        let (status, body) = server
            .admin(
                Method::POST,
                "/admin/v1/users",
                Some(
                    json!({"username": format!("user{n}"), "email": format!("u{n}@Bank.example"),
                            "display_name": if n == 3 { "Zoë 100%_sure" } else { "Someone" }}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (users, pages) = all_pages(&server, "/admin/v1/users?limit=3", "users").await;
    let (one_page, _) = all_pages(&server, "/admin/v1/users?limit=200", "users").await;
    assert_eq!(
        one_page, users,
        "pages join up, nothing repeated or left out"
    );
    assert_eq!((users.len(), pages), (7, 3));
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "user0", "user1", "user2", "user3", "user4", "user5", "user6"
        ]
    );
    // Search: case-insensitive substring of any identifier; LIKE wildcards are literal.
    let (found, _) = all_pages(&server, "/admin/v1/users?q=U5%40bank", "users").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["username"], "user5");
    let (found, _) = all_pages(&server, "/admin/v1/users?q=100%25_", "users").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let (found, _) = all_pages(&server, "/admin/v1/users?q=%25", "users").await;
    assert_eq!(found.len(), 1, "a % matches only a %");
    let id = users[2]["id"].as_str().unwrap();
    server
        .admin(Method::POST, &format!("/admin/v1/users/{id}/lock"), None)
        .await;
    let (locked, _) = all_pages(&server, "/admin/v1/users?status=locked", "users").await;
    assert_eq!(locked.len(), 1);
    for bad in [
        "/admin/v1/users?limit=0",
        "/admin/v1/users?limit=201",
        "/admin/v1/users?cursor=not-ours",
        "/admin/v1/users?status=gone",
        "/admin/v1/users?colour=red",
        "/admin/v1/devices?platform=windows",
        "/admin/v1/requests?state=lost",
    ] {
        let (status, body) = server.admin(Method::GET, bad, None).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_request")),
            "{bad}"
        );
    }

    // Clients and devices across users.
    for n in 0..3 {
        server
            .create_client(json!({"name": format!("Shop {n}")}))
            .await;
    }
    let (clients, pages) = all_pages(&server, "/admin/v1/clients?limit=2", "clients").await;
    assert_eq!((clients.len(), pages), (3, 2));
    assert!(clients.iter().all(|c| c.get("client_secret").is_none()));
    let (_, _sdk, _) = server.user_with_device("dora").await;
    let (_, _sdk2, _) = server.user_with_device("emil").await;
    let (devices, _) = all_pages(&server, "/admin/v1/devices", "devices").await;
    assert_eq!(devices.len(), 2);
    assert!(
        devices.iter().all(|d| d.get("push_token").is_none()),
        "never the token"
    );
    let dora = devices[0]["user_id"].as_str().unwrap();
    let (mine, _) = all_pages(
        &server,
        &format!("/admin/v1/devices?user_id={dora}"),
        "devices",
    )
    .await;
    assert_eq!(mine.len(), 1);
    let (with_push, _) = all_pages(
        &server,
        "/admin/v1/devices?push_token_valid=true",
        "devices",
    )
    .await;
    assert!(
        with_push.is_empty(),
        "these devices registered no push token"
    );
    let (active, _) = all_pages(
        &server,
        "/admin/v1/devices?status=active&platform=other&push_token_valid=false",
        "devices",
    )
    .await;
    assert_eq!(active.len(), 2);
}

#[tokio::test]
async fn a_request_s_detail_timeline_and_cancel() {
    let server = TestServer::start().await;
    let (user, sdk, _) = server.user_with_device("fred").await;
    let client = server.create_client(json!({})).await;
    let other = server.create_client(json!({"name": "Other"})).await;
    let first = server.start_ciba(&client, "fred").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    server.clock.advance(5);
    assert_eq!(server.poll(&client, &first).await.status, 200);
    server.clock.advance(1);
    let second = server.start_ciba(&client, "fred").await;
    server.clock.advance(1);
    server.start_ciba(&other, "fred").await;

    let (requests, _) = all_pages(&server, "/admin/v1/requests", "requests").await;
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0]["created_at"].as_i64() >= requests[1]["created_at"].as_i64(),
        "newest first"
    );
    assert!(requests.iter().all(|r| r.get("auth_req_id").is_none()));
    let (pending, _) = all_pages(
        &server,
        &format!("/admin/v1/requests?state=pending&client_id={}", client.id),
        "requests",
    )
    .await;
    assert_eq!(pending.len(), 1);
    let pending_id = pending[0]["id"].as_str().unwrap().to_owned();
    let (redeemed, _) = all_pages(&server, "/admin/v1/requests?state=redeemed", "requests").await;
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0]["id"], txn.view.id.as_str());
    let user_id = user["id"].as_str().unwrap();
    let (of_user, _) = all_pages(
        &server,
        &format!("/admin/v1/requests?user_id={user_id}&limit=1"),
        "requests",
    )
    .await;
    assert_eq!(of_user.len(), 3);

    // The redeemed request's story, in time order.
    let (status, detail) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/requests/{}", txn.view.id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["request"]["state"], "redeemed");
    let events: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let at = |name: &str| {
        events
            .iter()
            .position(|e| *e == name)
            .unwrap_or_else(|| panic!("{name} in {events:?}"))
    };
    assert!(
        at("created") < at("decided") && at("decided") <= at("redeemed"),
        "{events:?}"
    );
    assert_eq!(
        detail["timeline"][at("decided")]["detail"]["approved"],
        true
    );

    // Cancel the pending one: the client's poll is access_denied, the phone cannot decide it.
    let (status, cancelled) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/requests/{pending_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let poll = server.poll(&client, &second).await;
    assert_eq!((poll.status, poll.error()), (400, "access_denied"));
    assert!(
        sdk.pending()
            .await
            .unwrap()
            .iter()
            .all(|t| t.view.id != pending_id),
        "no longer pending on the phone"
    );
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/requests/{pending_id}/cancel"),
            None,
        )
        .await;
    assert_eq!((status, &body["error"]), (409, &json!("conflict")));
    let (status, _) = server
        .admin(Method::POST, "/admin/v1/requests/txn_unknown/cancel", None)
        .await;
    assert_eq!(status, 404);
    let (_, detail) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/requests/{pending_id}"),
            None,
        )
        .await;
    assert!(
        detail["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "request_cancelled"),
        "{detail}"
    );
}

#[tokio::test]
async fn rotating_a_client_secret_ends_the_old_one() {
    let server = TestServer::start().await;
    let client = server.create_client(json!({})).await;
    let (status, rotated) = server
        .admin(
            Method::POST,
            &format!("/admin/v1/clients/{}/secret", client.id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, client.secret);
    let old = server.poll(&client, "unknown-auth-req-id").await;
    assert_eq!((old.status, old.error()), (401, "invalid_client"));
    let renewed = TestClient {
        secret: new_secret.into(),
        ..client.clone()
    };
    let answer = server.poll(&renewed, "unknown-auth-req-id").await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));
    let (status, _) = server
        .admin(Method::POST, "/admin/v1/clients/nope/secret", None)
        .await;
    assert_eq!(status, 404);
}

/// The OpenAPI document the server serves describes what it answers: a listing's answer has the
/// fields its schema names, and the schema of a created user requires the fields the user has.
#[tokio::test]
async fn the_openapi_document_is_served_and_describes_real_answers() {
    let server = TestServer::start().await;
    let resp = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], server.issuer.as_str());
    let users = &doc["paths"]["/admin/v1/users"];
    assert_eq!(
        users["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/User"
    );
    assert_eq!(
        users["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/UserPage"
    );
    // A real answer has every field the schema requires, and no field it does not name.
    let user = server.create_user("olga").await;
    let (status, page) = server
        .admin(Method::GET, "/admin/v1/users?limit=5", None)
        .await;
    assert_eq!(status, 200, "{page}");
    for (schema, value) in [("User", &user), ("UserPage", &page)] {
        let schema = &doc["components"]["schemas"][schema];
        let properties = schema["properties"].as_object().unwrap();
        for required in schema["required"].as_array().unwrap() {
            assert!(
                value.get(required.as_str().unwrap()).is_some(),
                "{required} missing from {value}"
            );
        }
        for field in value.as_object().unwrap().keys() {
            assert!(
                properties.contains_key(field),
                "{field} is not in the schema"
            );
        }
    }
    // Nothing outside the admin, device and console-session APIs is described (the OAuth
    // endpoints have their discovery document).
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            ["/admin/v1/", "/device/v1/", "/console/session"]
                .iter()
                .any(|p| path.starts_with(p)),
            "{path}"
        );
    }
}
