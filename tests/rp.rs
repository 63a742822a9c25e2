//! A certified relying-party library completes CIBA flows against the server: openid-client 6
//! (OpenID-certified, `tests/rp/ciba-rp.mjs` on Node) with its own discovery, client
//! authentication and ID token validation — poll and ping with `client_secret_basic`, and with
//! `private_key_jwt` and a signed authentication request — and then the token lifecycle: UserInfo,
//! introspection, refresh (rotation, reuse detection) and revocation. The SDK approves on the
//! "phone".
//! Needs `npm ci --prefix tests/rp` (scripts/test.sh runs it).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ciba_core::clock::{Clock, SystemClock};
use ciba_e2e::*;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

fn rp_dir() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rp");
    assert!(
        dir.join("node_modules/openid-client").exists(),
        "openid-client is not installed: run `npm ci --prefix tests/rp` (scripts/test.sh does)"
    );
    dir
}

/// Runs the RP with `config`; when it reports its `auth_req_id`, `approve` runs; returns every
/// line it printed once it exited successfully.
async fn run_rp<F, Fut>(config: Value, approve: F) -> Vec<Value>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = Command::new("node")
        .arg("ciba-rp.mjs")
        .current_dir(rp_dir())
        .env("RP_CONFIG", config.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(serde_json::from_str(&line).unwrap_or(Value::String(line)));
        }
    });
    let child = KillOnDrop(child);
    let first = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the RP started a request within a minute")
        .expect("the RP printed its auth_req_id");
    let auth_req_id = first["auth_req_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no auth_req_id in {first}"))
        .to_owned();
    approve(auth_req_id).await;
    let mut lines = vec![first];
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
        lines.push(line);
    }
    let mut child = child;
    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "the RP failed: {lines:?}");
    lines
}

#[tokio::test]
async fn openid_client_completes_poll_and_ping_flows() {
    let server = TestServer::start_with(|s| {
        s.ciba.poll_interval = 1;
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 20;
    })
    .await;
    // openid-client sleeps the real interval between polls: the server's clock follows real time.
    let clock = server.clock.clone();
    let ticking = tokio::spawn(async move {
        loop {
            clock.set(SystemClock.now());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (user, sdk, _) = server.user_with_device("alice").await;

    // An EC key for the private_key_jwt client: PKCS#8 for the RP, the public JWK registered.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let public_jwk = p256_jwk(pair.public_key().as_ref(), "rp-1");
    let pkcs8_pem = {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
    };

    let cases = [
        ("poll", "client_secret_basic", false),
        ("ping", "client_secret_basic", false),
        ("poll", "private_key_jwt", true),
        ("ping", "private_key_jwt", true),
    ];
    for (n, (mode, auth, signed)) in cases.into_iter().enumerate() {
        let receiver = free_loopback_addr();
        let mut registration = json!({"name": format!("RP {mode} {auth}"), "scope": "openid profile",
                                      "backchannel_token_delivery_mode": mode,
                                      "grant_types": ["urn:openid:params:grant-type:ciba", "refresh_token"]});
        if mode == "ping" {
            registration["backchannel_client_notification_endpoint"] =
                json!(format!("http://{receiver}/ciba"));
        }
        if auth == "private_key_jwt" {
            registration["token_endpoint_auth_method"] = json!(auth);
            registration["jwks"] = json!({"keys": [public_jwk]});
            registration["backchannel_authentication_request_signing_alg"] = json!("ES256");
        }
        let (status, client) = server
            .admin(
                reqwest::Method::POST,
                "/admin/v1/clients",
                Some(registration),
            )
            .await;
        assert_eq!(status, 201, "{client}");
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let binding_message = format!("RP-{n}");
        let config = json!({
            "issuer": server.issuer, "client_id": client_id, "auth": auth,
            "secret": client["client_secret"], "private_jwk": {"kid": "rp-1", "pem": pkcs8_pem},
            "signed_request": signed, "mode": mode, "login_hint": "alice",
            "binding_message": binding_message, "notification_addr": receiver,
            "notification_token": format!("rp-notification-token-{n}"),
            "lifecycle": true,
        });
        let lines = run_rp(config, |_auth_req_id| async {
            let txn = eventually("the request reaches the phone", || async {
                let pending = sdk.pending().await.ok()?;
                pending
                    .into_iter()
                    .find(|t| t.view.binding_message.as_deref() == Some(binding_message.as_str()))
            })
            .await;
            sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
        })
        .await;
        let tokens = &lines
            .iter()
            .find(|l| l.get("tokens").is_some())
            .unwrap_or_else(|| panic!("no tokens in {lines:?}"))["tokens"];
        assert_eq!(tokens["sub"], user["subject"], "{mode} {auth}: {lines:?}");
        assert_eq!(tokens["aud"], client_id.as_str());
        assert_eq!(tokens["iss"], server.issuer.as_str());
        assert!(
            tokens["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        );
        if mode == "ping" {
            assert!(lines.iter().any(|l| l["pinged"] == true), "{lines:?}");
        }
        // The rest of the lifecycle, through openid-client: UserInfo, introspection, refresh with
        // rotation (a reuse revokes the grant), revocation.
        let step = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.get(name).cloned())
                .unwrap_or_else(|| panic!("{mode} {auth}: no {name} in {lines:?}"))
        };
        assert_eq!(
            step("userinfo"),
            json!({"sub": user["subject"], "preferred_username": "alice"})
        );
        assert_eq!(
            step("introspection"),
            json!({"active": true, "client_id": client_id, "sub": user["subject"]})
        );
        assert_eq!(
            step("refreshed"),
            json!({"sub": user["subject"], "rotated": true, "scope": "openid profile"})
        );
        assert_eq!(step("reuse"), "invalid_grant", "{lines:?}");
        assert_eq!(step("after_reuse"), "invalid_grant", "{lines:?}");
        assert_eq!(
            step("revoked"),
            json!({"active": false, "userinfo": "invalid_token"}),
            "{lines:?}"
        );
    }
    ticking.abort();
}
