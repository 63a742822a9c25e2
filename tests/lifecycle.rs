//! Device lifecycle end to end: several accounts, push-token and key rotation, unenrollment,
//! revocation, restore detection, fraud reports, TLS pinning.

use ciba_core::authenticator::{
    AccountState, AuthenticatorConfig, AuthenticatorError, EnrollOptions, KeyStore, spki_sha256_pin,
};
use ciba_core::clock::Clock;
use ciba_core::jose::software::{SoftwareSigner, random_b64u};
use ciba_core::protocol::{
    DecisionStatus, DenyReason, PushEnvironment, PushProvider, PushRegistration,
};
use ciba_e2e::*;
use reqwest::Method;
use serde_json::json;

fn fcm(token: &str) -> PushRegistration {
    PushRegistration {
        provider: PushProvider::Fcm,
        token: Some(token.into()),
        environment: PushEnvironment::Production,
    }
}

fn push_payload(issuer: &str, txn: &str) -> String {
    json!({"v": "1", "iss": issuer, "txn": txn}).to_string()
}

/// Enrolls `username` (created on `server`) into `sdk`; returns the user's id and the account.
async fn enroll(
    server: &TestServer,
    sdk: &TestSdk,
    username: &str,
) -> (String, ciba_core::authenticator::Account) {
    let user = server.create_user(username).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let uri = server.enrollment_uri(&id).await;
    let account = sdk
        .sdk
        .enroll(&uri, device_info(), PushRegistration::none())
        .await
        .unwrap();
    (id, account)
}

#[tokio::test]
async fn pushes_are_routed_to_the_right_account_across_issuers() {
    let bank_a = TestServer::start().await;
    let bank_b = TestServer::start().await;
    let phone = bank_a.sdk_with(AuthenticatorConfig::default());
    let (_, alice_a) = enroll(&bank_a, &phone, "alice").await;
    let (_, alice_b) = enroll(&bank_b, &phone, "alice").await;
    // A second user of bank A on the same phone: same issuer, another account.
    let (_, bob_a) = enroll(&bank_a, &phone, "bob").await;
    assert_eq!(alice_a.issuer, bob_a.issuer);
    assert_ne!(alice_a.issuer, alice_b.issuer);

    let client_a = bank_a.create_client(json!({})).await;
    let client_b = bank_b.create_client(json!({})).await;
    bank_a.start_ciba(&client_a, "alice").await;
    bank_b.start_ciba(&client_b, "alice").await;
    bank_a.clock.advance(1);
    bank_a.start_ciba(&client_a, "bob").await;

    let pending = phone.sdk.pending().await.unwrap();
    assert_eq!(pending.len(), 3);
    let txn_of = |account: &str| {
        pending
            .iter()
            .find(|t| t.account_id == account)
            .unwrap()
            .view
            .id
            .clone()
    };
    for (account, txn) in [
        (&alice_a, txn_of(&alice_a.id)),
        (&alice_b, txn_of(&alice_b.id)),
        (&bob_a, txn_of(&bob_a.id)),
    ] {
        let found = phone
            .sdk
            .handle_push(&push_payload(&account.issuer, &txn))
            .await
            .unwrap();
        assert_eq!(
            (found.account_id.as_str(), found.view.id.as_str()),
            (account.id.as_str(), txn.as_str())
        );
    }

    // Bank A's push naming bank B's transaction: none of bank A's accounts has it.
    assert_eq!(
        phone
            .sdk
            .handle_push(&push_payload(&alice_a.issuer, &txn_of(&alice_b.id)))
            .await,
        Err(AuthenticatorError::NotFound)
    );
    // A foreign or malformed push is a typed error, and nothing is fetched.
    assert_eq!(
        phone
            .sdk
            .handle_push(&push_payload("https://other-bank.example", "txn_1"))
            .await,
        Err(AuthenticatorError::UnknownIssuer(
            "https://other-bank.example".into()
        ))
    );
    for bad in [
        "{}".to_owned(),
        push_payload(&alice_a.issuer, "txn/../x"),
        json!({"v": "2", "iss": alice_a.issuer, "txn": "txn_1"}).to_string(),
        "[1,2]".to_owned(),
    ] {
        assert!(
            matches!(
                phone.sdk.handle_push(&bad).await,
                Err(AuthenticatorError::InvalidInput(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn push_token_rotation_reaches_every_account() {
    let bank_a = TestServer::start().await;
    let bank_b = TestServer::start().await;
    let phone = bank_a.sdk_with(AuthenticatorConfig::default());
    let (alice_a, _) = enroll(&bank_a, &phone, "alice").await;
    let (alice_b, _) = enroll(&bank_b, &phone, "alice").await;
    let (carol_b, carol_account) = enroll(&bank_b, &phone, "carol").await;

    let updates = phone
        .sdk
        .update_push_token(fcm("fcm-token-1"))
        .await
        .unwrap();
    assert_eq!(updates.len(), 3);
    assert!(updates.iter().all(|u| u.error.is_none()), "{updates:?}");
    for (server, user) in [
        (&bank_a, &alice_a),
        (&bank_b, &alice_b),
        (&bank_b, &carol_b),
    ] {
        let devices = server.devices_of(user).await;
        assert_eq!(devices[0]["push"]["provider"], "fcm", "{devices:?}");
        assert_eq!(devices[0]["push"]["has_token"], true);
    }
    assert!(
        phone
            .sdk
            .accounts()
            .unwrap()
            .iter()
            .all(|a| a.push == fcm("fcm-token-1"))
    );

    // One revoked device does not stop the others; its stored registration stays as it was.
    let (status, _) = bank_b
        .admin(
            Method::DELETE,
            &format!("/admin/v1/devices/{}", carol_account.device_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let updates = phone
        .sdk
        .update_push_token(fcm("fcm-token-2"))
        .await
        .unwrap();
    let errors: Vec<_> = updates.iter().map(|u| u.error.clone()).collect();
    assert_eq!(
        errors,
        vec![None, None, Some(AuthenticatorError::DeviceRevoked)]
    );
    assert_eq!(updates[2].account_id, carol_account.id);
    let accounts = phone.sdk.accounts().unwrap();
    assert_eq!(accounts[0].push, fcm("fcm-token-2"));
    assert_eq!(accounts[2].push, fcm("fcm-token-1"));

    // An unusable registration is refused before anything is sent.
    assert!(matches!(
        phone
            .sdk
            .update_push_token(PushRegistration {
                provider: PushProvider::Apns,
                token: None,
                environment: PushEnvironment::Sandbox,
            })
            .await,
        Err(AuthenticatorError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn key_rotation_retires_the_old_key() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (user_id, before) = enroll(&server, &phone, "alice").await;
    let old_pkcs8 = std::fs::read(phone.key_file(&before.key_alias)).unwrap();
    let jkt_before = server.devices_of(&user_id).await[0]["jkt"].clone();

    let after = phone.sdk.rotate_key(&before.id).await.unwrap();
    assert_ne!(after.key_alias, before.key_alias);
    assert_eq!(
        (after.id.as_str(), after.device_id.as_str()),
        (before.id.as_str(), before.device_id.as_str())
    );
    assert_eq!(phone.sdk.accounts().unwrap(), vec![after.clone()]);
    assert!(!phone.keys.has_key(before.key_alias.clone()).unwrap());
    assert!(phone.keys.has_key(after.key_alias.clone()).unwrap());
    let devices = server.devices_of(&user_id).await;
    assert_eq!(devices.len(), 1, "still one device");
    assert_ne!(devices[0]["jkt"], jkt_before);

    // The old key is refused…
    let old_key = SoftwareSigner::from_pkcs8(&old_pkcs8).unwrap();
    let path = "/device/v1/transactions";
    let dpop = ciba_core::jose::dpop_proof(
        &old_key,
        "GET",
        &server.url(path),
        server.clock.now(),
        &random_b64u(16).unwrap(),
    )
    .unwrap();
    let (status, body) = device_call(&server, Method::GET, path, &dpop, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown_device"))
    );

    // …and the new one works: an approval signed with it yields tokens.
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;
    let txn = phone.sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        phone.sdk.approve(&txn, vec!["swk".into()]).await.unwrap(),
        DecisionStatus::Approved
    );
    server.clock.advance(10);
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        phone.sdk.account_status(&after.id).await,
        Ok(AccountState::Active)
    );

    // A second rotation works from the rotated key.
    let third = phone.sdk.rotate_key(&after.id).await.unwrap();
    assert!(!phone.keys.has_key(after.key_alias).unwrap());
    assert_eq!(
        phone.sdk.account_status(&third.id).await,
        Ok(AccountState::Active)
    );
}

#[tokio::test]
async fn a_refused_rotation_keeps_the_old_key() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (_, account) = enroll(&server, &phone, "alice").await;
    // The device clock drifted an hour ahead: the server refuses the rotation's proofs.
    let skewed = ciba_core::clock::ManualClock::new(server.clock.now() + 3600);
    let sdk = ciba_core::authenticator::Authenticator::new(
        phone.accounts.clone(),
        phone.keys.clone(),
        std::sync::Arc::new(skewed),
        AuthenticatorConfig::default(),
    )
    .unwrap();
    assert!(matches!(
        sdk.rotate_key(&account.id).await,
        Err(AuthenticatorError::Server { status: 401, .. })
    ));
    assert_eq!(phone.sdk.accounts().unwrap(), vec![account.clone()]);
    assert_eq!(
        phone.sdk.account_status(&account.id).await,
        Ok(AccountState::Active)
    );
    let key_files = std::fs::read_dir(phone.key_file("x").parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(key_files, 1, "the new key was deleted");
}

#[tokio::test]
async fn a_revocation_by_the_bank_is_reported_as_such() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (user_id, account) = enroll(&server, &phone, "alice").await;
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "alice").await;
    let txn = phone.sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        phone.sdk.account_status(&account.id).await,
        Ok(AccountState::Active)
    );

    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/v1/devices/{}", account.device_id),
            None,
        )
        .await;
    assert_eq!(status, 204);

    assert_eq!(
        phone.sdk.account_status(&account.id).await,
        Ok(AccountState::Revoked)
    );
    assert_eq!(
        phone.sdk.pending().await,
        Err(AuthenticatorError::DeviceRevoked)
    );
    assert_eq!(
        phone
            .sdk
            .handle_push(&push_payload(&account.issuer, &txn.view.id))
            .await,
        Err(AuthenticatorError::DeviceRevoked)
    );
    assert_eq!(
        phone.sdk.approve(&txn, vec!["swk".into()]).await,
        Err(AuthenticatorError::DeviceRevoked)
    );
    assert_eq!(
        phone.sdk.rotate_key(&account.id).await,
        Err(AuthenticatorError::DeviceRevoked)
    );

    // Unenrolling a revoked device still cleans up the phone.
    phone.sdk.unenroll(&account.id).await.unwrap();
    assert_eq!(phone.sdk.accounts().unwrap(), vec![]);
    assert!(!phone.keys.has_key(account.key_alias).unwrap());
    assert_eq!(server.devices_of(&user_id).await[0]["status"], "revoked");
}

#[tokio::test]
async fn unenroll_revokes_on_the_server_and_forgets_locally() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (user_id, account) = enroll(&server, &phone, "alice").await;
    let (_, other) = enroll(&server, &phone, "bob").await;

    phone.sdk.unenroll(&account.id).await.unwrap();
    assert_eq!(phone.sdk.accounts().unwrap(), vec![other.clone()]);
    assert!(!phone.keys.has_key(account.key_alias.clone()).unwrap());
    let device = &server.devices_of(&user_id).await[0];
    assert_eq!(device["status"], "revoked");
    assert_eq!(
        phone.sdk.unenroll(&account.id).await,
        Err(AuthenticatorError::NotFound)
    );
    // The other account is untouched.
    assert_eq!(
        phone.sdk.account_status(&other.id).await,
        Ok(AccountState::Active)
    );
}

/// A backup restored onto a new phone (or biometrics re-enrolled): the account record is there,
/// its key is not.
#[tokio::test]
async fn a_lost_key_is_detected_as_needing_reenrollment() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (user_id, account) = enroll(&server, &phone, "alice").await;
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "alice").await;
    let txn = phone.sdk.pending().await.unwrap().remove(0);

    phone.keys.delete_key(account.key_alias.clone()).unwrap();

    assert_eq!(
        phone.sdk.account_status(&account.id).await,
        Ok(AccountState::NeedsReenrollment)
    );
    assert_eq!(
        phone.sdk.pending().await,
        Err(AuthenticatorError::KeyMissing)
    );
    assert_eq!(
        phone.sdk.approve(&txn, vec!["swk".into()]).await,
        Err(AuthenticatorError::KeyMissing)
    );
    assert_eq!(
        phone
            .sdk
            .handle_push(&push_payload(&account.issuer, &txn.view.id))
            .await,
        Err(AuthenticatorError::KeyMissing)
    );
    // Re-enrolling gives a working account next to the dead one, which can then be removed.
    let uri = server.enrollment_uri(&user_id).await;
    let fresh = phone
        .sdk
        .enroll(&uri, device_info(), PushRegistration::none())
        .await
        .unwrap();
    phone.sdk.unenroll(&account.id).await.unwrap();
    assert_eq!(phone.sdk.accounts().unwrap(), vec![fresh.clone()]);
    assert_eq!(phone.sdk.pending().await.unwrap()[0].view.id, txn.view.id);
}

#[tokio::test]
async fn a_fraud_report_from_the_sdk_locks_the_user() {
    let server = TestServer::start().await;
    let phone = server.sdk_with(AuthenticatorConfig::default());
    let (user_id, account) = enroll(&server, &phone, "alice").await;
    let client = server.create_client(json!({})).await;
    let auth_req_id = server.start_ciba(&client, "alice").await;
    let txn = phone.sdk.pending().await.unwrap().remove(0);

    assert_eq!(
        phone.sdk.deny(&txn, DenyReason::NotRecognized).await,
        Ok(DecisionStatus::Denied)
    );
    server.clock.advance(10);
    let answer = server.poll(&client, &auth_req_id).await;
    assert_eq!((answer.status, answer.error()), (400, "access_denied"));

    let (_, audit) = server
        .admin(
            Method::GET,
            &format!("/admin/v1/audit?user_id={user_id}"),
            None,
        )
        .await;
    let fraud = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "fraud_reported")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(fraud["device_id"], account.device_id.as_str());
    assert_eq!(fraud["request_id"], txn.view.id.as_str());
    let (_, user) = server
        .admin(Method::GET, &format!("/admin/v1/users/{user_id}"), None)
        .await;
    assert_eq!(user["status"], "locked", "{user}");

    let refused = server
        .backchannel(&client, &[("scope", "openid"), ("login_hint", "alice")])
        .await;
    assert_eq!((refused.status, refused.error()), (400, "access_denied"));
    // The device itself is not revoked: only the user is locked.
    assert_eq!(
        phone.sdk.account_status(&account.id).await,
        Ok(AccountState::Active)
    );
}

/// The bank's server behind TLS with a private CA: the SDK trusts the CA through the extra
/// anchors, and an account's pins must match the served key.
#[tokio::test]
async fn pinning_accepts_the_pinned_key_and_refuses_any_other() {
    let mut front = TlsFront::bind().await;
    let issuer = front.issuer();
    let server = TestServer::start_with(|s| s.issuer = Some(issuer.clone())).await;
    front.forward_to(server.addr());
    let user = server.create_user("alice").await;
    let user_id = user["id"].as_str().unwrap();
    let right_pin = spki_sha256_pin(&front.leaf_der).unwrap();
    let ca_pin = spki_sha256_pin(&front.ca_der).unwrap();
    assert_ne!(right_pin, ca_pin);

    // System trust alone does not know the test CA.
    let untrusting = server.sdk_with(AuthenticatorConfig::default());
    let uri = server.enrollment_uri(user_id).await;
    let refused = untrusting
        .sdk
        .enroll(&uri, device_info(), PushRegistration::none())
        .await;
    assert!(
        matches!(refused, Err(AuthenticatorError::UntrustedServer(_))),
        "{refused:?}"
    );
    assert_eq!(untrusting.sdk.accounts().unwrap(), vec![]);

    let trusting = server.sdk_with(AuthenticatorConfig {
        extra_trust_anchors: vec![front.ca_pem.clone().into_bytes()],
        ..AuthenticatorConfig::default()
    });
    // A chain the anchors accept, but pinned to another key: refused, nothing kept.
    let refused = trusting
        .sdk
        .enroll_with(
            &uri,
            device_info(),
            PushRegistration::none(),
            EnrollOptions {
                tls_pins: vec![ca_pin.clone()],
                ..EnrollOptions::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(AuthenticatorError::UntrustedServer(_))),
        "{refused:?}"
    );
    assert_eq!(trusting.sdk.accounts().unwrap(), vec![]);

    // The right pin (with a backup pin beside it): enrolled, and every call works.
    let account = trusting
        .sdk
        .enroll_with(
            &uri,
            device_info(),
            PushRegistration::none(),
            EnrollOptions {
                tls_pins: vec![ca_pin.clone(), right_pin.clone()],
                ..EnrollOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(account.issuer, issuer);
    assert_eq!(account.tls_pins, vec![ca_pin.clone(), right_pin.clone()]);
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "alice").await;
    let txn = trusting.sdk.pending().await.unwrap().remove(0);
    assert_eq!(
        trusting.sdk.account_status(&account.id).await,
        Ok(AccountState::Active)
    );

    // The bank's key changes without the app knowing: the account's calls are refused.
    trusting
        .sdk
        .set_tls_pins(&account.id, vec![ca_pin])
        .unwrap();
    assert!(matches!(
        trusting.sdk.approve(&txn, vec!["swk".into()]).await,
        Err(AuthenticatorError::UntrustedServer(_))
    ));
    trusting
        .sdk
        .set_tls_pins(&account.id, vec![right_pin])
        .unwrap();
    assert_eq!(
        trusting.sdk.approve(&txn, vec!["swk".into()]).await,
        Ok(DecisionStatus::Approved)
    );

    // The front prefers h2, but the SDK speaks HTTP/1.1 only and says so in its ALPN offer.
    let negotiated = front.negotiated_protocols();
    assert!(!negotiated.is_empty());
    assert!(
        negotiated
            .iter()
            .all(|p| p.as_deref() == Some(&b"http/1.1"[..])),
        "{negotiated:?}"
    );
}
