//! Client authentication under load (`scripts/bench-client-auth.sh`): backchannel requests and
//! token requests at a running server over TLS, with `client_secret_basic`, `private_key_jwt`
//! (ES256 and PS256 assertions) and `tls_client_auth`, each in its own phase, the same
//! concurrency, alternating rounds. Assertions are signed before a phase starts (the load
//! generator shares the machine: signing PS256 while measuring would take the server's CPU), each
//! with its own `jti`, so the server's whole verification — signature, claims, the replay cache's
//! database write — is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Parser)]
struct Args {
    /// `https://localhost:<port>`.
    #[arg(long)]
    base: String,
    /// Admin token.
    #[arg(long)]
    admin_token: String,
    /// The CA of the server's certificate (PEM).
    #[arg(long)]
    ca: String,
    /// The tls_client_auth client's certificate and key (one PEM file).
    #[arg(long)]
    client_identity: String,
    /// Its subject DN as registered.
    #[arg(long)]
    client_dn: String,
    /// An RSA private key (PKCS#1 PEM) and its public JWK (JSON file), for PS256.
    #[arg(long)]
    rsa_key: String,
    #[arg(long)]
    rsa_jwk: String,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent requests.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Rounds (each runs every method once, in turn).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Basic,
    Es256,
    Ps256,
    Mtls,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Es256 => "private_key_jwt ES256",
            Self::Ps256 => "private_key_jwt PS256",
            Self::Mtls => "tls_client_auth",
        }
    }
}

struct Client {
    id: String,
    secret: Option<String>,
    key: Option<(Algorithm, EncodingKey, String)>,
    http: reqwest::Client,
}

fn b64u(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn random_jti() -> Result<String, String> {
    ciba_core::jose::software::random_b64u(16).map_err(|e| e.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Client {
    /// `n` ready-made client authentications (form fields), one per request.
    fn credentials(&self, base: &str, n: usize) -> Result<Vec<Vec<(String, String)>>, String> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut form = Vec::new();
            if let Some((alg, key, kid)) = &self.key {
                let t = now();
                let claims = json!({"iss": self.id, "sub": self.id, "aud": format!("{base}/token"),
                                    "iat": t, "exp": t + 300, "jti": random_jti()?});
                let mut header = Header::new(*alg);
                header.kid = Some(kid.clone());
                let assertion =
                    jsonwebtoken::encode(&header, &claims, key).map_err(|e| e.to_string())?;
                form.push(("client_assertion_type".to_owned(), JWT_BEARER.to_owned()));
                form.push(("client_assertion".to_owned(), assertion));
            } else if self.secret.is_none() {
                form.push(("client_id".to_owned(), self.id.clone()));
            }
            out.push(form);
        }
        Ok(out)
    }
}

async fn admin(http: &reqwest::Client, args: &Args, body: Value) -> Result<Value, String> {
    let response = http
        .post(format!("{}/admin/v1/clients", args.base))
        .bearer_auth(&args.admin_token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("registration: {status} {body}"));
    }
    Ok(body)
}

/// One phase: `concurrency` workers send requests to `path` with the prepared credentials
/// until `seconds` pass or the credentials run out; returns (answers a second, p50 ms, errors).
async fn phase(
    args: &Args,
    client: &Arc<Client>,
    path: &'static str,
    params: Arc<Vec<(String, String)>>,
    credentials: Vec<Vec<(String, String)>>,
) -> Result<(f64, f64, usize), String> {
    let credentials = Arc::new(credentials);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, credentials, next, params) = (
            client.clone(),
            credentials.clone(),
            next.clone(),
            params.clone(),
        );
        let url = format!("{}{path}", args.base);
        tasks.spawn(async move {
            let mut ok = 0usize;
            let mut errors = 0usize;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(auth) = credentials.get(i) else {
                    break;
                };
                let mut form: Vec<(String, String)> = params.as_ref().clone();
                form.extend(auth.iter().cloned());
                let mut request = client.http.post(&url).form(&form);
                if let Some(secret) = &client.secret {
                    request = request.basic_auth(&client.id, Some(secret));
                }
                let t0 = Instant::now();
                let response = request.send().await;
                let status = match response {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                latencies.push(t0.elapsed().as_micros() as u64);
                // 200 (backchannel), or a 400 about the grant (token): authentication passed.
                if status == 200 || status == 400 {
                    ok += 1;
                } else {
                    errors += 1;
                }
            }
            (ok, errors, latencies)
        });
    }
    let mut ok = 0;
    let mut errors = 0;
    let mut latencies = Vec::new();
    for (o, e, l) in tasks.join_all().await {
        ok += o;
        errors += e;
        latencies.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let p50 = latencies
        .get(latencies.len() / 2)
        .map_or(0.0, |us| *us as f64 / 1000.0);
    Ok((ok as f64 / elapsed, p50, errors))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let ca = reqwest::Certificate::from_pem(
        &std::fs::read(&args.ca).map_err(|e| format!("{}: {e}", args.ca))?,
    )
    .map_err(|e| e.to_string())?;
    let https = |identity: Option<reqwest::Identity>| -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca.clone())
            .pool_max_idle_per_host(1024);
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder.build().map_err(|e| e.to_string())
    };
    let identity = reqwest::Identity::from_pem(
        &std::fs::read(&args.client_identity).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let plain = https(None)?;
    let with_cert = https(Some(identity))?;

    // The EC key: fresh. The RSA key: the test fixture's.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|e| e.to_string())?;
    let ec_pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ec.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    use aws_lc_rs::signature::KeyPair;
    let point = ec_pair.public_key().as_ref().to_vec();
    let ec_jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec-1",
                        "x": b64u(&point[1..33]), "y": b64u(&point[33..65])});
    let rsa_pem = std::fs::read_to_string(&args.rsa_key).map_err(|e| e.to_string())?;
    let rsa_der = {
        use base64::Engine;
        let body: String = rsa_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| e.to_string())?
    };
    let mut rsa_jwk: Value =
        serde_json::from_str(&std::fs::read_to_string(&args.rsa_jwk).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    rsa_jwk["kid"] = json!("rsa-1");

    let common = json!({"backchannel_token_delivery_mode": "poll", "scope": "openid"});
    let register = |extra: Value| {
        let mut body = common.clone();
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };
    let basic = admin(&plain, &args, register(json!({"name": "Load basic"}))).await?;
    let es = admin(
        &plain,
        &args,
        register(json!({"name": "Load ES256",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [ec_jwk]}})),
    )
    .await?;
    let ps = admin(
        &plain,
        &args,
        register(json!({"name": "Load PS256",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [rsa_jwk]}})),
    )
    .await?;
    let mtls = admin(
        &plain,
        &args,
        register(json!({"name": "Load mTLS",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": args.client_dn})),
    )
    .await?;
    let id = |v: &Value| v["client_id"].as_str().unwrap_or_default().to_owned();
    let clients: Vec<(Method, Arc<Client>)> = vec![
        (
            Method::Basic,
            Arc::new(Client {
                id: id(&basic),
                secret: basic["client_secret"].as_str().map(str::to_owned),
                key: None,
                http: plain.clone(),
            }),
        ),
        (
            Method::Es256,
            Arc::new(Client {
                id: id(&es),
                secret: None,
                key: Some((
                    Algorithm::ES256,
                    EncodingKey::from_ec_der(ec.as_ref()),
                    "ec-1".into(),
                )),
                http: plain.clone(),
            }),
        ),
        (
            Method::Ps256,
            Arc::new(Client {
                id: id(&ps),
                secret: None,
                key: Some((
                    Algorithm::PS256,
                    EncodingKey::from_rsa_der(&rsa_der),
                    "rsa-1".into(),
                )),
                http: plain.clone(),
            }),
        ),
        (
            Method::Mtls,
            Arc::new(Client {
                id: id(&mtls),
                secret: None,
                key: None,
                http: with_cert.clone(),
            }),
        ),
    ];
    // Users to ask (64, so that no user's pending list grows long).
    let mut users = Vec::new();
    for i in 0..64 {
        let name = format!("auth-load-{}-{i}", random_jti()?);
        let response = plain
            .post(format!("{}/admin/v1/users", args.base))
            .bearer_auth(&args.admin_token)
            .json(&json!({"username": name}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("user: {}", response.status()));
        }
        users.push(name);
    }

    // Enough credentials for a phase at the fastest rate seen here, with a margin.
    let per_phase = (args.seconds as usize) * 4000;
    println!(
        "| round | method | endpoint | concurrency | answers/s | p50 ms | errors |\n|---|---|---|---|---|---|---|"
    );
    for round in 1..=args.rounds {
        for (method, client) in &clients {
            for (path, params) in [
                (
                    "/backchannel/authenticate",
                    vec![
                        ("scope".to_owned(), "openid".to_owned()),
                        ("login_hint".to_owned(), users[round % users.len()].clone()),
                        ("binding_message".to_owned(), "LOAD-1".to_owned()),
                    ],
                ),
                (
                    "/token",
                    vec![
                        ("grant_type".to_owned(), CIBA_GRANT.to_owned()),
                        (
                            "auth_req_id".to_owned(),
                            "unknown-auth-req-id-0123456789".to_owned(),
                        ),
                    ],
                ),
            ] {
                let credentials = client.credentials(&args.base, per_phase)?;
                let (rate, p50, errors) =
                    phase(&args, client, path, Arc::new(params), credentials).await?;
                println!(
                    "| {round} | {} | `{path}` | {} | {rate:.0} | {p50:.2} | {errors} |",
                    method.name(),
                    args.concurrency
                );
            }
        }
    }
    Ok(())
}
