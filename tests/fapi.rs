//! FAPI-CIBA: `private_key_jwt` client authentication (RFC 7523), signed authentication requests
//! (CIBA Core §7.1.1) and the profile's rules, one test per conformance-suite module (or group of
//! modules) of the `fapi-ciba-id1-test-plan` that this server's part covers, with real RSA and EC
//! client keys. Runs on both engines like the rest of the suite.

use std::sync::{Arc, Mutex};

use ciba_core::authenticator::{Account, Authenticator, AuthenticatorConfig};
use ciba_core::clock::Clock;
use ciba_core::protocol::{DecisionStatus, DenyReason, PushRegistration};
use ciba_e2e::*;
use ciba_server::config::Settings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::notify::Receiver;

const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's signing key: the private half signs, the public JWK is registered.
#[derive(Clone)]
struct ClientKey {
    alg: Algorithm,
    key: Arc<EncodingKey>,
    kid: String,
    jwk: Value,
}

impl ClientKey {
    /// One of the two RSA fixtures (`tests/fixtures/keys/client-rsa-<n>.pem`).
    fn rsa(n: u8, alg: Algorithm) -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
        let pem = std::fs::read_to_string(dir.join(format!("client-rsa-{n}.pem"))).unwrap();
        let der = {
            use base64::Engine;
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        };
        let jwk_text = std::fs::read_to_string(dir.join(format!("client-rsa-{n}.pub.jwk.json")));
        let mut jwk: Value = serde_json::from_str(&jwk_text.unwrap()).unwrap();
        let kid = format!("rsa-{n}");
        jwk["kid"] = json!(kid);
        Self {
            alg,
            key: Arc::new(EncodingKey::from_rsa_der(&der)),
            kid,
            jwk,
        }
    }

    /// A fresh P-256 key.
    fn ec(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self {
            alg: Algorithm::ES256,
            key: Arc::new(EncodingKey::from_ec_der(pkcs8.as_ref())),
            kid: kid.into(),
            jwk: p256_jwk(pair.public_key().as_ref(), kid),
        }
    }

    /// The same key used with another algorithm (RS256 with a PS256 key).
    fn with_alg(&self, alg: Algorithm) -> Self {
        Self {
            alg,
            ..self.clone()
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }
}

/// A server on its own TLS listener (`https://localhost:<port>`, a test CA's certificate), with
/// that CA also trusted for `tls_client_auth` client certificates; its HTTP client presents
/// `cert` (FAPI tokens are bound to a certificate).
struct Fapi {
    server: TestServer,
    ca: TestCa,
    cert: ClientCert,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Fapi {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

async fn fapi_server(tweak: impl FnOnce(&mut Settings)) -> Fapi {
    let ca = TestCa::new("FAPI test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = ca.write_server_identity(dir.path());
    let ca_file = ca.write(dir.path(), "client-ca.pem");
    let mut server = TestServer::start_with(|s| {
        s.issuer = Some(format!("https://localhost:{}", s.listen.port()));
        s.tls.certificate_file = Some(cert_file);
        s.tls.private_key_file = Some(key_file);
        s.tls.client_ca_files = vec![ca_file];
        tweak(s);
    })
    .await;
    let cert = ca.issue_client("Bank", "terminal-1", &["terminal-1.bank.example"]);
    server.use_tls(ca.https_client(Some(&cert)));
    Fapi {
        server,
        ca,
        cert,
        _dir: dir,
    }
}

impl Fapi {
    /// An SDK trusting the test CA.
    fn sdk(&self) -> Authenticator {
        self.authenticator_with(AuthenticatorConfig {
            extra_trust_anchors: vec![self.ca.ca_der.clone()],
            ..AuthenticatorConfig::default()
        })
    }

    /// A user with one enrolled SDK device.
    async fn user_with_device(&self, username: &str) -> (Value, Authenticator, Account) {
        let user = self.create_user(username).await;
        let sdk = self.sdk();
        let uri = self.enrollment_uri(user["id"].as_str().unwrap()).await;
        let account = sdk
            .enroll(&uri, device_info(), PushRegistration::none())
            .await
            .unwrap();
        (user, sdk, account)
    }

    /// Another instance on the same database, over TLS with the same client certificate.
    async fn another_instance(&self) -> TestServer {
        let mut other = self.server.another_instance().await;
        other.use_tls(self.ca.https_client(Some(&self.cert)));
        other
    }
}

/// A JWS with `alg: none` (no signature).
fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let b64u = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.", b64u(&json!({"alg": "none"})), b64u(claims))
}

/// A registered `private_key_jwt` client and the key it signs with.
struct KeyClient {
    id: String,
    key: ClientKey,
}

async fn register(server: &TestServer, body: Value) -> (u16, Value) {
    let mut full = json!({"name": "Bank Branch Terminal", "backchannel_token_delivery_mode": "poll",
                          "scope": "openid profile accounts payments"});
    for (k, v) in body.as_object().unwrap() {
        full[k] = v.clone();
    }
    server
        .admin(reqwest::Method::POST, "/admin/v1/clients", Some(full))
        .await
}

/// Registers a FAPI client signing everything with `key`.
async fn fapi_client(server: &TestServer, key: ClientKey, extra: Value) -> KeyClient {
    let alg = format!("{:?}", key.alg);
    let mut body = json!({"fapi": true, "token_endpoint_auth_method": "private_key_jwt",
                          "backchannel_authentication_request_signing_alg": alg,
                          "jwks": key.jwks()});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, answer) = register(server, body).await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer.get("client_secret").is_none(),
        "a key client has no secret"
    );
    KeyClient {
        id: answer["client_id"].as_str().unwrap().into(),
        key,
    }
}

/// Claims of a valid client assertion for `client` at `endpoint` (a path), at the server's time.
fn assertion_claims(server: &TestServer, client_id: &str, aud: &str) -> Value {
    let now = server.clock.now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
           "jti": random_jti()})
}

fn random_jti() -> String {
    ciba_core::jose::software::random_b64u(16).unwrap()
}

/// Claims of a valid signed authentication request.
fn request_claims(server: &TestServer, client_id: &str, params: Value) -> Value {
    let now = server.clock.now();
    let mut claims = json!({"iss": client_id, "aud": server.issuer, "iat": now, "nbf": now,
                            "exp": now + 300, "jti": random_jti()});
    for (k, v) in params.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

/// POSTs `form` to `path` with no client authentication added.
async fn post(server: &TestServer, path: &str, form: &[(&str, String)]) -> OAuthAnswer {
    let response = server
        .http
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    OAuthAnswer::from(response).await
}

/// POSTs `params` to `path`, authenticated by a client assertion with `claims` signed by `key`.
async fn post_with_assertion(
    server: &TestServer,
    path: &str,
    key: &ClientKey,
    claims: &Value,
    params: &[(&str, String)],
) -> OAuthAnswer {
    let mut form = params.to_vec();
    form.push(("client_assertion_type", JWT_BEARER.into()));
    form.push(("client_assertion", key.sign(claims)));
    post(server, path, &form).await
}

impl KeyClient {
    /// A backchannel request carrying `request` (a signed request object), authenticated.
    async fn backchannel(&self, server: &TestServer, request: String) -> OAuthAnswer {
        let claims = assertion_claims(server, &self.id, &server.url("/token"));
        post_with_assertion(
            server,
            "/backchannel/authenticate",
            &self.key,
            &claims,
            &[("request", request)],
        )
        .await
    }

    /// A signed request with `params`, signed by the client's key.
    fn request(&self, server: &TestServer, params: Value) -> String {
        self.key.sign(&request_claims(server, &self.id, params))
    }

    /// A token request, authenticated.
    async fn poll(&self, server: &TestServer, auth_req_id: &str) -> OAuthAnswer {
        let claims = assertion_claims(server, &self.id, &server.url("/token"));
        post_with_assertion(
            server,
            "/token",
            &self.key,
            &claims,
            &[
                ("grant_type", CIBA_GRANT.into()),
                ("auth_req_id", auth_req_id.into()),
            ],
        )
        .await
    }
}

fn alice_request() -> Value {
    json!({"scope": "openid accounts", "login_hint": "alice", "binding_message": "W4-7QX"})
}

#[tokio::test]
async fn discovery_lists_the_profile_truthfully() {
    let server = fapi_server(|_| {}).await;
    let meta = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256"])
    );
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(meta["userinfo_endpoint"], server.url("/userinfo"));
    assert_eq!(
        meta["mtls_endpoint_aliases"],
        json!({"token_endpoint": server.url("/token"),
               "backchannel_authentication_endpoint": server.url("/backchannel/authenticate"),
               "userinfo_endpoint": server.url("/userinfo"),
               "introspection_endpoint": server.url("/introspect"),
               "revocation_endpoint": server.url("/revoke")})
    );
    // Without TLS the server sees no client certificate: no mTLS method, no bound tokens.
    let plain = TestServer::start().await;
    let plain_meta: Value = plain
        .http
        .get(plain.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        plain_meta["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert!(plain_meta.get("mtls_endpoint_aliases").is_none());
    assert!(
        plain_meta
            .get("tls_client_certificate_bound_access_tokens")
            .is_none()
    );
    assert_eq!(
        meta["backchannel_authentication_request_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256"])
    );

    // Server-wide FAPI: only what the profile allows, and every client follows it.
    let server = fapi_server(|s| s.clients.fapi = true).await;
    let meta = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "PS256"])
    );
    assert_eq!(
        meta["backchannel_authentication_request_signing_alg_values_supported"],
        json!(["ES256", "PS256"])
    );
    assert_eq!(
        meta["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping"])
    );
    let key = ClientKey::ec("k1");
    let (status, body) = register(
        &server,
        json!({"fapi": false, "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    // Without "fapi", a registration gets the server's profile (and private_key_jwt).
    let (status, body) = register(
        &server,
        json!({"backchannel_authentication_request_signing_alg": "ES256", "jwks": key.jwks()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["fapi"], true);
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
}

#[tokio::test]
async fn fapi_registration_rules() {
    let server = fapi_server(|_| {}).await;
    let rsa = ClientKey::rsa(1, Algorithm::PS256);
    let fapi = |extra: Value| {
        let mut body = json!({"fapi": true, "token_endpoint_auth_method": "private_key_jwt",
                              "backchannel_authentication_request_signing_alg": "PS256",
                              "jwks": rsa.jwks()});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let refused = [
        (
            "a secret",
            fapi(json!({"token_endpoint_auth_method": "client_secret_basic"})),
        ),
        (
            "push mode",
            fapi(json!({"backchannel_token_delivery_mode": "push",
                                   "backchannel_client_notification_endpoint": "https://client.example/cb"})),
        ),
        (
            "unsigned requests",
            fapi(json!({"backchannel_authentication_request_signing_alg": null})),
        ),
        (
            "RS256 requests",
            fapi(json!({"backchannel_authentication_request_signing_alg": "RS256"})),
        ),
        (
            "HS256 requests",
            fapi(json!({"backchannel_authentication_request_signing_alg": "HS256"})),
        ),
        (
            "none",
            fapi(json!({"backchannel_authentication_request_signing_alg": "none"})),
        ),
        ("no keys", fapi(json!({"jwks": null}))),
        (
            "a 1024-bit RSA key",
            fapi(json!({"jwks": {"keys": [{"kty": "RSA", "e": "AQAB",
            "n": ciba_core::jose::b64u_encode(&[0xc5; 128])}]}})),
        ),
        (
            "a private key",
            fapi(json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}})),
        ),
        (
            "jwks and jwks_uri",
            fapi(json!({"jwks_uri": "https://client.example/jwks"})),
        ),
        (
            "an http jwks_uri",
            fapi(json!({"jwks": null, "jwks_uri": "http://client.example/jwks"})),
        ),
        (
            "a private jwks_uri",
            fapi(json!({"jwks": null, "jwks_uri": "https://10.0.0.7/jwks"})),
        ),
    ];
    for (what, body) in refused {
        let (status, answer) = register(&server, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{what}: {answer}"
        );
        assert!(
            answer["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}: {answer}"
        );
    }
    let (status, answer) = register(&server, fapi(json!({}))).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["fapi"], true);
    assert_eq!(answer["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(
        answer["backchannel_authentication_request_signing_alg"],
        "PS256"
    );
    assert_eq!(answer["jwks"], rsa.jwks());
    assert!(answer.get("client_secret").is_none());
    // Nothing was registered by the refused attempts: only this client (and none other) exists.
    let (status, read) = server
        .admin(
            reqwest::Method::GET,
            &format!(
                "/admin/v1/clients/{}",
                answer["client_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!((status, &read["fapi"]), (200, &json!(true)), "{read}");
}

/// The suite's happy path (poll), "other scope order succeeds", "requested_expiry as a string",
/// "multiple calls to the token endpoint" and "wrong auth_req_id" — with PS256 (RSA) and with
/// ES256 (EC) keys.
#[tokio::test]
async fn fapi_poll_happy_path_with_rsa_and_ec_keys() {
    let server = fapi_server(|_| {}).await;
    let (user, sdk, _) = server.user_with_device("alice").await;
    for key in [ClientKey::rsa(1, Algorithm::PS256), ClientKey::ec("ec-1")] {
        let client = fapi_client(&server, key, json!({})).await;
        let request = client.request(
            &server,
            json!({"scope": "accounts openid", "login_hint": "alice",
                   "binding_message": "W4-7QX", "requested_expiry": "120"}),
        );
        let answer = client.backchannel(&server, request).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["expires_in"], 120);
        let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();

        // The phone shows what the signed request said.
        let pending = sdk.pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].view.binding_message.as_deref(), Some("W4-7QX"));
        assert_eq!(pending[0].view.client.client_id, client.id);
        let early = client.poll(&server, &auth_req_id).await;
        assert_eq!(
            (early.status, early.error()),
            (400, "authorization_pending")
        );
        server.clock.advance(6);
        assert_eq!(
            sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap(),
            DecisionStatus::Approved
        );
        let tokens = client.poll(&server, &auth_req_id).await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        let id = crate::flows::verify_with_jwks(
            &server,
            tokens.body["id_token"].as_str().unwrap(),
            &client.id,
        )
        .await;
        assert_eq!(id["sub"], user["subject"]);

        // Issued once: the second call is refused, and an unknown auth_req_id too.
        let again = client.poll(&server, &auth_req_id).await;
        assert_eq!((again.status, again.error()), (400, "invalid_grant"));
        let wrong = client
            .poll(&server, "not-an-auth-req-id-at-all-12345")
            .await;
        assert_eq!((wrong.status, wrong.error()), (400, "invalid_grant"));
        server.clock.advance(10);
    }
}

/// The suite's "user rejects" and "auth_req_id expired".
#[tokio::test]
async fn fapi_user_rejects_and_expired_requests() {
    let server = fapi_server(|_| {}).await;
    let (_, sdk, _) = server.user_with_device("alice").await;
    let client = fapi_client(&server, ClientKey::ec("ec-1"), json!({})).await;
    let answer = client
        .backchannel(&server, client.request(&server, alice_request()))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let denied = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.deny(&pending[0], DenyReason::UserDeclined)
        .await
        .unwrap();
    let answer = client.poll(&server, &denied).await;
    assert_eq!((answer.status, answer.error()), (400, "access_denied"));

    let mut short = alice_request();
    short["requested_expiry"] = json!(30);
    let answer = client
        .backchannel(&server, client.request(&server, short))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let expiring = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    server.clock.advance(31);
    let answer = client.poll(&server, &expiring).await;
    assert_eq!((answer.status, answer.error()), (400, "expired_token"));
}

/// Client assertions (`private_key_jwt`) at both endpoints: the suite's "no client assertion",
/// "client assertion alg RS256", "iss as aud at the token endpoint", and every claim rule.
#[tokio::test]
async fn client_assertion_rules() {
    let server = fapi_server(|_| {}).await;
    server.create_user("alice").await;
    let rsa = ClientKey::rsa(1, Algorithm::PS256);
    let client = fapi_client(&server, rsa.clone(), json!({})).await;
    let other = fapi_client(&server, ClientKey::rsa(2, Algorithm::PS256), json!({})).await;
    let token_url = server.url("/token");
    let grant = |id: &str| {
        vec![
            ("grant_type", CIBA_GRANT.to_owned()),
            ("auth_req_id", id.to_owned()),
        ]
    };

    for path in ["/token", "/backchannel/authenticate"] {
        let params: Vec<(&str, String)> = if path == "/token" {
            grant("unknown-auth-req-id-0123456789")
        } else {
            vec![("request", client.request(&server, alice_request()))]
        };
        // Authentication passed: the answer is about the request, not the client.
        let passed = |a: &OAuthAnswer| a.status != 401;
        let valid = assertion_claims(&server, &client.id, &token_url);
        let answer = post_with_assertion(&server, path, &rsa, &valid, &params).await;
        assert!(passed(&answer), "{path}: {}", answer.body);

        // No client authentication at all.
        let answer = post(&server, path, &params).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "{path}"
        );

        let mut cases: Vec<(&str, ClientKey, Value)> = Vec::new();
        let with = |k: &str, v: Value| {
            let mut c = assertion_claims(&server, &client.id, &token_url);
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = assertion_claims(&server, &client.id, &token_url);
            c.as_object_mut().unwrap().remove(k);
            c
        };
        let now = server.clock.now();
        cases.push((
            "RS256 under FAPI",
            rsa.with_alg(Algorithm::RS256),
            with("jti", json!(random_jti())),
        ));
        cases.push((
            "a bad aud",
            rsa.clone(),
            with("aud", json!("https://elsewhere.example/token")),
        ));
        cases.push(("no aud", rsa.clone(), without("aud")));
        cases.push((
            "iss not the client",
            rsa.clone(),
            with("iss", json!(other.id)),
        ));
        cases.push((
            "sub not the client",
            rsa.clone(),
            with("sub", json!(other.id)),
        ));
        cases.push(("no exp", rsa.clone(), without("exp")));
        cases.push(("expired", rsa.clone(), with("exp", json!(now - 120))));
        cases.push((
            "exp an hour ahead",
            rsa.clone(),
            with("exp", json!(now + 3600)),
        ));
        cases.push(("nbf ahead", rsa.clone(), with("nbf", json!(now + 600))));
        cases.push(("no jti", rsa.clone(), without("jti")));
        cases.push((
            "signed by another client's key",
            other.key.clone(),
            valid.clone(),
        ));
        for (what, key, claims) in cases {
            let answer = post_with_assertion(&server, path, &key, &claims, &params).await;
            assert_eq!(
                (answer.status, answer.error()),
                (401, "invalid_client"),
                "{path}, {what}: {}",
                answer.body
            );
        }
        // Replayed: the same assertion a second time, on this instance and on another.
        let once = assertion_claims(&server, &client.id, &token_url);
        let first = post_with_assertion(&server, path, &rsa, &once, &params).await;
        assert!(passed(&first), "{}", first.body);
        let again = post_with_assertion(&server, path, &rsa, &once, &params).await;
        assert_eq!((again.status, again.error()), (401, "invalid_client"));
        assert!(
            again.body["error_description"]
                .as_str()
                .unwrap()
                .contains("jti")
        );

        // alg none, and HS256 keyed with the public key's modulus (algorithm confusion).
        let mut form = params.clone();
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push((
            "client_assertion",
            unsigned(&assertion_claims(&server, &client.id, &token_url)),
        ));
        let answer = post(&server, path, &form).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "alg none"
        );
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &assertion_claims(&server, &client.id, &token_url),
            &EncodingKey::from_secret(rsa.jwk["n"].as_str().unwrap().as_bytes()),
        )
        .unwrap();
        let mut form = params.clone();
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push(("client_assertion", hs));
        let answer = post(&server, path, &form).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "HS256"
        );

        // A form client_id that is not the assertion's issuer, and two methods at once.
        let mut form = params.clone();
        form.push(("client_id", other.id.clone()));
        let claims = assertion_claims(&server, &client.id, &token_url);
        let answer = post_with_assertion(&server, path, &rsa, &claims, &form).await;
        assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
        let claims = assertion_claims(&server, &client.id, &token_url);
        let mut form = params.clone();
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push(("client_assertion", rsa.sign(&claims)));
        let answer = OAuthAnswer::from(
            server
                .http
                .post(server.url(path))
                .basic_auth(&client.id, Some("secret"))
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
    }

    // "Client assertion with iss as aud" (the issuer), and the URL of the endpoint called.
    let params = grant("unknown-auth-req-id-0123456789");
    for aud in [
        server.issuer.clone(),
        server.url("/backchannel/authenticate"),
    ] {
        let claims = assertion_claims(&server, &client.id, &aud);
        let path = if aud == server.issuer {
            "/token"
        } else {
            "/backchannel/authenticate"
        };
        let params = if path == "/token" {
            params.clone()
        } else {
            vec![("request", client.request(&server, alice_request()))]
        };
        let answer = post_with_assertion(&server, path, &rsa, &claims, &params).await;
        assert_ne!(answer.status, 401, "aud {aud}: {}", answer.body);
    }

    // A replay on another instance is refused too (the replay cache is the database).
    let claims = assertion_claims(&server, &client.id, &token_url);
    let first = post_with_assertion(&server, "/token", &rsa, &claims, &params).await;
    assert_eq!(first.status, 400, "{}", first.body);
    let second_instance = Fapi::another_instance(&server).await;
    let again = post_with_assertion(&second_instance, "/token", &rsa, &claims, &params).await;
    assert_eq!((again.status, again.error()), (401, "invalid_client"));

    // Outside FAPI, RS256 is accepted (and a client registered for a secret cannot use a key).
    let (status, plain) = register(
        &server,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": rsa.jwks()}),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let plain_id = plain["client_id"].as_str().unwrap();
    let claims = assertion_claims(&server, plain_id, &token_url);
    let answer = post_with_assertion(
        &server,
        "/token",
        &rsa.with_alg(Algorithm::RS256),
        &claims,
        &params,
    )
    .await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_grant"),
        "{}",
        answer.body
    );
    let secret_client = server.create_client(json!({})).await;
    let claims = assertion_claims(&server, &secret_client.id, &token_url);
    let answer = post_with_assertion(&server, "/token", &rsa, &claims, &params).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    // And a key client cannot fall back to a secret.
    let answer = OAuthAnswer::from(
        server
            .http
            .post(server.url("/token"))
            .basic_auth(plain_id, Some("guess"))
            .form(&params)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
}

/// Signed authentication requests: every request-object module of the suite, each refused with
/// `invalid_request` and leaving nothing pending on the user's phone.
#[tokio::test]
async fn request_object_rules() {
    let server = fapi_server(|_| {}).await;
    let (_, sdk, _) = server.user_with_device("alice").await;
    let rsa = ClientKey::rsa(1, Algorithm::PS256);
    let client = fapi_client(&server, rsa.clone(), json!({})).await;
    let other = fapi_client(&server, ClientKey::rsa(2, Algorithm::PS256), json!({})).await;
    let now = server.clock.now();
    let with = |k: &str, v: Value| {
        let mut c = request_claims(&server, &client.id, alice_request());
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = request_claims(&server, &client.id, alice_request());
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("missing aud", rsa.sign(&without("aud"))),
        (
            "bad aud",
            rsa.sign(&with("aud", json!("https://elsewhere.example"))),
        ),
        ("missing iss", rsa.sign(&without("iss"))),
        ("bad iss", rsa.sign(&with("iss", json!(other.id)))),
        ("missing exp", rsa.sign(&without("exp"))),
        ("expired exp", rsa.sign(&with("exp", json!(now - 120)))),
        (
            "exp 70 minutes ahead",
            rsa.sign(&with("exp", json!(now + 70 * 60))),
        ),
        ("missing iat", rsa.sign(&without("iat"))),
        ("missing nbf", rsa.sign(&without("nbf"))),
        (
            "nbf 10 minutes ahead",
            rsa.sign(&with("nbf", json!(now + 600))),
        ),
        ("nbf 70 minutes ago", {
            let mut c = with("nbf", json!(now - 70 * 60));
            c["exp"] = json!(now - 70 * 60 + 3000);
            rsa.sign(&c)
        }),
        ("missing jti", rsa.sign(&without("jti"))),
        (
            "alg none",
            unsigned(&request_claims(&server, &client.id, alice_request())),
        ),
        ("bad signature", {
            let token = client.request(&server, alice_request());
            let (head, sig) = token.rsplit_once('.').unwrap();
            let mut sig = sig.to_owned();
            let flipped = if sig.starts_with('A') { "B" } else { "A" };
            sig.replace_range(0..1, flipped);
            format!("{head}.{sig}")
        }),
        (
            "RS256 (PS256 registered)",
            rsa.with_alg(Algorithm::RS256).sign(&request_claims(
                &server,
                &client.id,
                alice_request(),
            )),
        ),
        (
            "signed by another client",
            other
                .key
                .sign(&request_claims(&server, &client.id, alice_request())),
        ),
        (
            "multiple hints",
            client.request(
                &server,
                json!({"scope": "openid", "login_hint": "alice",
            "id_token_hint": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "binding_message": "W4-7QX"}),
            ),
        ),
        (
            "no binding message (FAPI)",
            client.request(&server, json!({"scope": "openid", "login_hint": "alice"})),
        ),
        (
            "a binding message that is not a string",
            client.request(
                &server,
                json!({"scope": "openid",
            "login_hint": "alice", "binding_message": 12345}),
            ),
        ),
    ];
    for (what, request) in cases {
        let answer = client.backchannel(&server, request).await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, "invalid_request"),
            "{what}: {}",
            answer.body
        );
        assert!(answer.body["error_description"].is_string(), "{what}");
    }

    // The backchannel request without `request` (the parameters in the form) is refused.
    let claims = assertion_claims(&server, &client.id, &server.url("/token"));
    let form = [
        ("scope", "openid".to_owned()),
        ("login_hint", "alice".to_owned()),
        ("binding_message", "W4-7QX".to_owned()),
    ];
    let answer =
        post_with_assertion(&server, "/backchannel/authenticate", &rsa, &claims, &form).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_request"),
        "{}",
        answer.body
    );
    // Nor may form parameters accompany it.
    let claims = assertion_claims(&server, &client.id, &server.url("/token"));
    let form = [
        ("request", client.request(&server, alice_request())),
        ("login_hint", "bob".to_owned()),
    ];
    let answer =
        post_with_assertion(&server, "/backchannel/authenticate", &rsa, &claims, &form).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_request"),
        "{}",
        answer.body
    );

    assert!(
        sdk.pending().await.unwrap().is_empty(),
        "nothing reached the phone"
    );

    // A valid one goes through once; the same request object again is refused (its jti).
    let request = client.request(&server, alice_request());
    let answer = client.backchannel(&server, request.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = client.backchannel(&server, request).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
    // authorization_details make a request unique without a binding message.
    let details = json!([{"type": "payment_initiation", "instructedAmount": {"currency": "EUR", "amount": "12.50"},
                          "creditorName": "Merchant A", "creditorAccount": {"iban": "DE02100100109307118603"}}]);
    let answer = client
        .backchannel(
            &server,
            client.request(
                &server,
                json!({"scope": "openid payments", "login_hint": "alice",
                                                              "authorization_details": details}),
            ),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sdk.pending().await.unwrap().len(), 2);

    // A non-FAPI client with a secret cannot send a request object it registered no alg for.
    let plain = server.create_client(json!({})).await;
    let answer = server
        .backchannel(
            &plain,
            &[("request", &client.request(&server, alice_request()))],
        )
        .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
}

/// Keys registered by reference: fetched once, cached, fetched again when the client signs
/// with a key id the cached set lacks (key rotation), and a clear refusal when unreachable.
#[tokio::test]
async fn jwks_uri_is_fetched_cached_and_refetched_for_a_new_kid() {
    let server = fapi_server(|s| {
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 20;
    })
    .await;
    let first = ClientKey::ec("k1");
    let second = ClientKey::ec("k2");
    let served = Arc::new(Mutex::new(first.jwks()));
    let fetches = Arc::new(Mutex::new(0usize));
    let app = {
        let (served, fetches) = (served.clone(), fetches.clone());
        axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (served, fetches) = (served.clone(), fetches.clone());
                async move {
                    *fetches.lock().unwrap() += 1;
                    axum::Json(served.lock().unwrap().clone())
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (status, body) = register(
        &server,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let answer = redeem_unknown(&server, &id, &first).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_grant"),
        "{}",
        answer.body
    );
    let answer = redeem_unknown(&server, &id, &first).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(
        *fetches.lock().unwrap(),
        1,
        "the second call used the cached keys"
    );

    // The client rotates: its set now holds only k2.
    *served.lock().unwrap() = second.jwks();
    // Within 10 s of the last fetch, an unknown kid does not make the server fetch again.
    let answer = redeem_unknown(&server, &id, &second).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    assert_eq!(*fetches.lock().unwrap(), 1);
    // Later it does, and the new key works.
    server.clock.advance(11);
    let answer = redeem_unknown(&server, &id, &second).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_grant"),
        "{}",
        answer.body
    );
    assert_eq!(*fetches.lock().unwrap(), 2);
    // The cache's lifetime (300 s) passes: fetched again even for a known kid.
    server.clock.advance(301);
    redeem_unknown(&server, &id, &second).await;
    assert_eq!(*fetches.lock().unwrap(), 3);

    // Unreachable keys past twice their lifetime: a clear invalid_client, not a 500.
    task.abort();
    let _ = task.await;
    server.clock.advance(601);
    let answer = redeem_unknown(&server, &id, &second).await;
    assert_eq!(
        (answer.status, answer.error()),
        (401, "invalid_client"),
        "{}",
        answer.body
    );
    assert!(
        answer.body["error_description"]
            .as_str()
            .unwrap()
            .contains("jwks_uri"),
        "{}",
        answer.body
    );
}

/// A token request for an unknown `auth_req_id`, authenticated by an assertion signed by `key`:
/// `invalid_grant` when the authentication passed.
async fn redeem_unknown(server: &TestServer, client_id: &str, key: &ClientKey) -> OAuthAnswer {
    let claims = assertion_claims(server, client_id, &server.url("/token"));
    let params = [
        ("grant_type", CIBA_GRANT.to_owned()),
        ("auth_req_id", "unknown-0123456789abcdef".to_owned()),
    ];
    post_with_assertion(server, "/token", key, &claims, &params).await
}

/// Ping mode under FAPI: the notification token travels inside the signed request, the ping
/// arrives with it, the client then redeems with its assertion.
#[tokio::test]
async fn fapi_ping_flow() {
    let server = fapi_server(|s| {
        s.notifications.allow_plain_http = true;
        s.notifications.allow_private_networks = true;
        s.notifications.worker_interval_ms = 20;
    })
    .await;
    let receiver = Receiver::start(&[]).await;
    let (_, sdk, _) = server.user_with_device("alice").await;
    let client = fapi_client(
        &server,
        ClientKey::rsa(1, Algorithm::PS256),
        json!({"backchannel_token_delivery_mode": "ping",
               "backchannel_client_notification_endpoint": receiver.url()}),
    )
    .await;
    let mut params = alice_request();
    params["client_notification_token"] = json!("8d67dc78-7faa-4d41-aabd-67707b374255");
    let answer = client
        .backchannel(&server, client.request(&server, params))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let got = receiver.wait_for(1).await;
    assert_eq!(
        got[0].authorization.as_deref(),
        Some("Bearer 8d67dc78-7faa-4d41-aabd-67707b374255")
    );
    assert_eq!(got[0].body, json!({"auth_req_id": auth_req_id}));
    let tokens = client.poll(&server, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
}

/// POSTs `form` to `path` with `http` (a client presenting its own certificate, or none).
async fn post_with(
    server: &TestServer,
    http: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> OAuthAnswer {
    OAuthAnswer::from(http.post(server.url(path)).form(form).send().await.unwrap()).await
}

/// `GET /userinfo` with `token` through `http`: status, body and the challenge.
async fn userinfo(
    server: &TestServer,
    http: &reqwest::Client,
    token: Option<&str>,
) -> (u16, Value, Option<String>) {
    let mut request = http.get(server.url("/userinfo"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json_answer(response).await;
    (status, body, challenge)
}

fn grant_of(auth_req_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", CIBA_GRANT.to_owned()),
        ("auth_req_id", auth_req_id.to_owned()),
    ]
}

fn with_client_id(id: &str, mut form: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    form.push(("client_id", id.to_owned()));
    form
}

/// `tls_client_auth` (RFC 8705 §2.1) under FAPI: the happy path over the server's own TLS with
/// a CA-issued client certificate, certificate-bound tokens (`cnf.x5t#S256`) that the UserInfo
/// endpoint accepts only with that certificate (the suite's "mTLS holder-of-key required"), and
/// the suite's "wrong client id" / "different client id and issuer" at both endpoints.
#[tokio::test]
async fn tls_client_auth_binds_tokens_to_the_certificate() {
    let server = fapi_server(|_| {}).await;
    let (user, sdk, _) = server.user_with_device("alice").await;
    let key = ClientKey::ec("req-1");
    let tls_client = |name: (&str, &str)| {
        let mut body = json!({"fapi": true, "token_endpoint_auth_method": "tls_client_auth",
                              "backchannel_authentication_request_signing_alg": "ES256",
                              "jwks": key.jwks()});
        body[name.0] = json!(name.1);
        body
    };
    let (status, body) = register(
        &server,
        tls_client(("tls_client_auth_subject_dn", "CN=terminal-1,O=Bank")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tls_client_auth_subject_dn"], "CN=terminal-1,O=Bank");
    let id = body["client_id"].as_str().unwrap().to_owned();

    let request = key.sign(&request_claims(
        &server,
        &id,
        json!({"scope": "openid profile", "login_hint": "alice", "binding_message": "W4-7QX"}),
    ));
    let answer = post(
        &server,
        "/backchannel/authenticate",
        &with_client_id(&id, vec![("request", request)]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let tokens = post(
        &server,
        "/token",
        &with_client_id(&id, grant_of(&auth_req_id)),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access_token = tokens.body["access_token"].as_str().unwrap();
    let claims = crate::flows::verify_with_jwks(&server, access_token, &server.issuer).await;
    assert_eq!(claims["cnf"], json!({"x5t#S256": server.cert.thumbprint()}));

    // The protected resource: with the certificate, the user's claims by scope.
    let (status, body, _) = userinfo(&server, &server.http, Some(access_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], user["subject"]);
    assert_eq!(body["preferred_username"], "alice");
    assert_eq!(body["name"], "alice Example");
    assert!(body.get("email").is_none(), "no email scope");
    // With another certificate, or none: refused as the token's holder is not proven.
    let other_cert = server.ca.issue_client("Bank", "terminal-2", &[]);
    for (what, http) in [
        (
            "another certificate",
            server.ca.https_client(Some(&other_cert)),
        ),
        ("no certificate", server.ca.https_client(None)),
    ] {
        let (status, body, challenge) = userinfo(&server, &http, Some(access_token)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}"
        );
        assert!(challenge.unwrap().contains("invalid_token"), "{what}");
    }

    // Another tls_client_auth client (terminal-2's name): terminal-1's certificate with its
    // client_id is refused, at both endpoints.
    let (status, body) = register(
        &server,
        tls_client(("tls_client_auth_subject_dn", "CN=terminal-2,O=Bank")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let other_id = body["client_id"].as_str().unwrap().to_owned();
    let request = key.sign(&request_claims(&server, &other_id, alice_request()));
    for (path, form) in [
        ("/token", grant_of("unknown-0123456789abcdef")),
        ("/backchannel/authenticate", vec![("request", request)]),
    ] {
        let answer = post(&server, path, &with_client_id(&other_id, form.clone())).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "{path}"
        );
        // No certificate at all, and a self-signed one with the right name.
        let bare = server.ca.https_client(None);
        let answer = post_with(&server, &bare, path, &with_client_id(&id, form.clone())).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "{path}"
        );
        let impostor = TestCa::new("Another CA").issue_client("Bank", "terminal-1", &[]);
        let impostor = server.ca.https_client(Some(&impostor));
        let answer = post_with(&server, &impostor, path, &with_client_id(&id, form)).await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "invalid_client"),
            "{path}"
        );
    }

    // The name by SAN, and the DN written in the other order, match the same certificate.
    for name in [
        ("tls_client_auth_san_dns", "terminal-1.bank.example"),
        ("tls_client_auth_subject_dn", "O=Bank, CN=terminal-1"),
    ] {
        let (status, body) = register(&server, tls_client(name)).await;
        assert_eq!(status, 201, "{body}");
        let id = body["client_id"].as_str().unwrap();
        let answer = post(
            &server,
            "/token",
            &with_client_id(id, grant_of("unknown-0123456789abcdef")),
        )
        .await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, "invalid_grant"),
            "{name:?}: {}",
            answer.body
        );
    }
    let (status, body) = register(
        &server,
        tls_client(("tls_client_auth_san_dns", "terminal-9.bank.example")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let answer = post(
        &server,
        "/token",
        &with_client_id(
            body["client_id"].as_str().unwrap(),
            grant_of("unknown-0123456789abcdef"),
        ),
    )
    .await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    // Two names at once, or none, are refused at registration.
    let mut two = tls_client(("tls_client_auth_san_dns", "terminal-1.bank.example"));
    two["tls_client_auth_subject_dn"] = json!("CN=terminal-1");
    let mut none = tls_client(("tls_client_auth_san_dns", "x"));
    none.as_object_mut()
        .unwrap()
        .remove("tls_client_auth_san_dns");
    for body in [two, none] {
        let (status, answer) = register(&server, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_client_metadata"))
        );
    }
}

/// `self_signed_tls_client_auth` (RFC 8705 §2.2), without FAPI: the certificate's key is the
/// registered one; another self-signed certificate is refused.
#[tokio::test]
async fn self_signed_tls_client_auth() {
    let server = fapi_server(|_| {}).await;
    let (_, sdk, _) = server.user_with_device("alice").await;
    let cert = ClientCert::self_signed("shop-terminal");
    let (status, body) = register(
        &server,
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth",
               "jwks": {"keys": [cert.jwk("tls-1")]}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("client_secret").is_none());
    let id = body["client_id"].as_str().unwrap().to_owned();
    let http = server.ca.https_client(Some(&cert));
    let form = with_client_id(
        &id,
        vec![
            ("scope", "openid".to_owned()),
            ("login_hint", "alice".to_owned()),
        ],
    );
    let answer = post_with(&server, &http, "/backchannel/authenticate", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let tokens = post_with(
        &server,
        &http,
        "/token",
        &with_client_id(&id, grant_of(&auth_req_id)),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = jwt_claims(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], cert.thumbprint());

    let stranger = server
        .ca
        .https_client(Some(&ClientCert::self_signed("shop-terminal")));
    let answer = post_with(
        &server,
        &stranger,
        "/token",
        &with_client_id(&id, grant_of(&auth_req_id)),
    )
    .await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    // Without TLS on the server, the method cannot be registered.
    let plain = TestServer::start().await;
    let (status, body) = plain
        .admin(
            reqwest::Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "Shop", "backchannel_token_delivery_mode": "poll",
                        "token_endpoint_auth_method": "self_signed_tls_client_auth",
                        "jwks": {"keys": [cert.jwk("tls-1")]}}),
            ),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
}

/// FAPI access tokens are sender-constrained: a FAPI client's token request without a client
/// certificate is refused (with one it succeeds, and the token is bound to it).
#[tokio::test]
async fn fapi_tokens_need_a_client_certificate() {
    let server = fapi_server(|_| {}).await;
    let (_, sdk, _) = server.user_with_device("alice").await;
    let client = fapi_client(&server, ClientKey::ec("ec-1"), json!({})).await;
    let answer = client
        .backchannel(&server, client.request(&server, alice_request()))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let claims = assertion_claims(&server, &client.id, &server.url("/token"));
    let mut form = grant_of(&auth_req_id);
    form.push(("client_assertion_type", JWT_BEARER.into()));
    form.push(("client_assertion", client.key.sign(&claims)));
    let bare = server.ca.https_client(None);
    let answer = post_with(&server, &bare, "/token", &form).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_request"),
        "{}",
        answer.body
    );
    let tokens = client.poll(&server, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = jwt_claims(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], server.cert.thumbprint());
    // A server that cannot see client certificates does not register FAPI clients.
    let plain = TestServer::start().await;
    let key = ClientKey::ec("ec-2");
    let (status, body) = register(
        &plain,
        json!({"fapi": true, "token_endpoint_auth_method": "private_key_jwt",
               "backchannel_authentication_request_signing_alg": "ES256", "jwks": key.jwks()}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
}

/// Behind a TLS-terminating proxy: the client certificate in the configured header (URL-encoded
/// PEM or base64 DER) is believed from a trusted proxy address only.
#[tokio::test]
async fn client_certificates_forwarded_by_a_trusted_proxy() {
    let proxied = |trusted: &'static str| {
        TestServer::start_with(move |s| {
            s.tls.client_certificate_header = Some("X-Client-Cert".into());
            s.tls.trusted_proxies = vec![trusted.into()];
        })
    };
    let server = proxied("127.0.0.0/8").await;
    let cert = ClientCert::self_signed("shop-terminal");
    let (status, body) = server
        .admin(
            reqwest::Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "Shop", "backchannel_token_delivery_mode": "poll",
                        "token_endpoint_auth_method": "self_signed_tls_client_auth",
                        "jwks": {"keys": [cert.jwk("tls-1")]}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    // As nginx's `$ssl_client_escaped_cert`: percent-encoded PEM.
    let escaped_pem: String = cert
        .pem
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let der_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&cert.der)
    };
    let call = |server: &TestServer, header: Option<String>| {
        let mut request = server
            .http
            .post(server.url("/token"))
            .form(&with_client_id(&id, grant_of("unknown-0123456789abcdef")));
        if let Some(value) = header {
            request = request.header("X-Client-Cert", value);
        }
        async move { OAuthAnswer::from(request.send().await.unwrap()).await }
    };
    for header in [escaped_pem.clone(), der_b64] {
        let answer = call(&server, Some(header)).await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, "invalid_grant"),
            "{}",
            answer.body
        );
    }
    let answer = call(&server, None).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));
    let answer = call(&server, Some("%%% not a certificate".into())).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_client"));

    // The same header from an address that is not a trusted proxy is ignored.
    let untrusted = proxied("192.0.2.1").await;
    let (status, body) = untrusted
        .admin(
            reqwest::Method::POST,
            "/admin/v1/clients",
            Some(
                json!({"name": "Shop", "backchannel_token_delivery_mode": "poll",
                        "token_endpoint_auth_method": "self_signed_tls_client_auth",
                        "jwks": {"keys": [cert.jwk("tls-1")]}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let answer = OAuthAnswer::from(
        untrusted
            .http
            .post(untrusted.url("/token"))
            .header("X-Client-Cert", escaped_pem)
            .form(&with_client_id(&id, grant_of("unknown-0123456789abcdef")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error()),
        (401, "invalid_client"),
        "{}",
        answer.body
    );
}

/// The listener's TLS: 1.3, and 1.2 only with the FAPI (ECDHE, AES-GCM) suites.
#[tokio::test]
async fn tls_listener_offers_only_fapi_cipher_suites() {
    use rustls::crypto::ring::cipher_suite as suites;
    let server = fapi_server(|_| {}).await;
    let handshake = |version: &'static rustls::SupportedProtocolVersion,
                     suite: rustls::SupportedCipherSuite| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server.ca.ca_der.clone().into()).unwrap();
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let addr = server.addr();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .is_ok()
        }
    };
    let v12 = &rustls::version::TLS12;
    let v13 = &rustls::version::TLS13;
    assert!(handshake(v13, suites::TLS13_AES_128_GCM_SHA256).await);
    assert!(handshake(v12, suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256).await);
    assert!(handshake(v12, suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384).await);
    assert!(!handshake(v12, suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256).await);
}

/// The UserInfo endpoint with a plain bearer token (RFC 6750): claims by scope; expired, forged
/// or missing tokens refused with a challenge.
#[tokio::test]
async fn userinfo_with_bearer_tokens() {
    let server = TestServer::start().await;
    let (user, sdk, _) = server.user_with_device("alice").await;
    let client = server.create_client(json!({})).await;
    let answer = server
        .backchannel(
            &client,
            &[("scope", "openid profile"), ("login_hint", "alice")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let tokens = server.poll(&client, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access_token = tokens.body["access_token"].as_str().unwrap();
    assert!(
        jwt_claims(access_token).get("cnf").is_none(),
        "no certificate, no binding"
    );
    let (status, body, _) = userinfo(&server, &server.http, Some(access_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], user["subject"]);
    assert_eq!(body["preferred_username"], "alice");
    // POST works too.
    let response = server
        .http
        .post(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let id_token = tokens.body["id_token"].as_str().unwrap();
    for (what, token) in [
        ("no token", None),
        (
            "a forged token",
            Some("eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln"),
        ),
        ("an ID token", Some(id_token)),
    ] {
        let (status, body, challenge) = userinfo(&server, &server.http, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}"
        );
        assert!(challenge.unwrap().starts_with("Bearer"), "{what}");
    }
    server.clock.advance(3600);
    let (status, _, _) = userinfo(&server, &server.http, Some(access_token)).await;
    assert_eq!(status, 401, "expired");
}

/// The conformance suite's `automated_ciba_approval_url`, served by the device: the terminal
/// authenticator (`ciba-authenticator serve-approvals`, an enrolled device) approves or denies
/// the newest pending request through the ordinary device API when the URL is called.
// The CLI runs as a child process waited on synchronously: a second worker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automated_approval_url_is_served_by_the_terminal_authenticator() {
    let server = TestServer::start().await;
    let user = server.create_user("alice").await;
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(authenticator_binary());
        command.arg("--home").arg(home.path()).args(args);
        command
    };
    let uri = server.enrollment_uri(user["id"].as_str().unwrap()).await;
    let enrolled = cli(&["enroll", &uri, "--name", "Conformance device"])
        .output()
        .unwrap();
    assert!(enrolled.status.success(), "{enrolled:?}");
    // Only on loopback.
    let refused = cli(&["serve-approvals", "--listen", "0.0.0.0:8788"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));

    let listen = free_loopback_addr();
    let child = cli(&["serve-approvals", "--listen", &listen, "--wait", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    let approval_url = format!("http://{listen}/ciba-approval");
    eventually("the approval URL answers", || async {
        server.http.get(&approval_url).send().await.ok().map(drop)
    })
    .await;
    let client = server.create_client(json!({})).await;
    for (decision, outcome) in [("allow", None), ("deny", Some("access_denied"))] {
        let auth_req_id = server.start_ciba(&client, "alice").await;
        let response = server
            .http
            .get(format!(
                "{approval_url}?token={auth_req_id}&type={decision}"
            ))
            .send()
            .await
            .unwrap();
        let (status, body) = json_answer(response).await;
        assert_eq!(status, 200, "{body}");
        let answer = server.poll(&client, &auth_req_id).await;
        match outcome {
            None => assert_eq!(answer.status, 200, "{}", answer.body),
            Some(error) => assert_eq!((answer.status, answer.error()), (400, error)),
        }
    }
    // Nothing pending: 404 after the wait; a bad type: 400.
    let (status, body) = json_answer(
        server
            .http
            .get(format!("{approval_url}?token=x&type=allow"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = json_answer(
        server
            .http
            .get(format!("{approval_url}?token=x&type=maybe"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
}

/// Refresh tokens of a FAPI client (the suite's refresh-token module): rotation at each use,
/// bound to the client certificate the grant was redeemed with (RFC 8705 §4: a refresh with
/// another certificate is refused and changes nothing), PS256 ID tokens, and the lifecycle
/// endpoints over mTLS with `private_key_jwt`.
#[tokio::test]
async fn fapi_refresh_tokens_are_bound_to_the_certificate() {
    let server = fapi_server(|_| {}).await;
    let (user, sdk, _) = server.user_with_device("alice").await;
    let client = fapi_client(
        &server,
        ClientKey::rsa(1, Algorithm::PS256),
        json!({"grant_types": [CIBA_GRANT, "refresh_token"], "id_token_signed_response_alg": "PS256"}),
    )
    .await;
    let answer = client
        .backchannel(&server, client.request(&server, alice_request()))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let auth_req_id = answer.body["auth_req_id"].as_str().unwrap().to_owned();
    let pending = sdk.pending().await.unwrap();
    sdk.approve(&pending[0], vec!["swk".into()]).await.unwrap();
    let tokens = client.poll(&server, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let rt = tokens.body["refresh_token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(tokens.body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, Algorithm::PS256);

    let refresh_form = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
            ("client_assertion_type", JWT_BEARER.to_owned()),
            (
                "client_assertion",
                client.key.sign(&assertion_claims(
                    &server,
                    &client.id,
                    &server.url("/token"),
                )),
            ),
        ]
    };
    // Another certificate (the key still authenticates the client): refused, nothing used up.
    let other = server.ca.issue_client("Bank", "terminal-9", &[]);
    let elsewhere = server.ca.https_client(Some(&other));
    let stolen = post_with(&server, &elsewhere, "/token", &refresh_form(&rt)).await;
    assert_eq!(
        (stolen.status, stolen.error()),
        (400, "invalid_grant"),
        "{}",
        stolen.body
    );
    assert!(
        stolen.body["error_description"]
            .as_str()
            .unwrap()
            .contains("certificate")
    );
    let bare = server.ca.https_client(None);
    let none = post_with(&server, &bare, "/token", &refresh_form(&rt)).await;
    assert_eq!((none.status, none.error()), (400, "invalid_request"));

    let refreshed = post(&server, "/token", &refresh_form(&rt)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let access_token = refreshed.body["access_token"].as_str().unwrap();
    let claims = crate::flows::verify_with_jwks(&server, access_token, &server.issuer).await;
    assert_eq!(claims["cnf"], json!({"x5t#S256": server.cert.thumbprint()}));
    assert_eq!(claims["sub"], user["subject"]);
    assert_ne!(refreshed.body["refresh_token"].as_str().unwrap(), rt);

    // Introspection and revocation with private_key_jwt over mTLS.
    let with_assertion = |token: &str, path: &str| {
        vec![
            ("token", token.to_owned()),
            ("client_assertion_type", JWT_BEARER.to_owned()),
            (
                "client_assertion",
                client
                    .key
                    .sign(&assertion_claims(&server, &client.id, &server.url(path))),
            ),
        ]
    };
    let introspected = post(
        &server,
        "/introspect",
        &with_assertion(access_token, "/introspect"),
    )
    .await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    assert_eq!(
        introspected.body["cnf"],
        json!({"x5t#S256": server.cert.thumbprint()})
    );
    let response = server
        .http
        .post(server.url("/revoke"))
        .form(&with_assertion(access_token, "/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _, _) = userinfo(&server, &server.http, Some(access_token)).await;
    assert_eq!(status, 401);
}
