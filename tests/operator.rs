//! The operator's side of configuration (issue 18): every setting from the environment, secrets
//! from files, `check-config`, against the real `ciba-server` binary with a clean environment.

use std::process::{Command, Output, Stdio};

use ciba_e2e::*;
use reqwest::Method;
use serde_json::json;

fn run(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    Command::new(server_binary())
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_config_prints_the_effective_settings_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "a-secret-admin-token-from-a-file\n").unwrap();
    let token = token.to_str().unwrap().to_owned();
    let out = run(
        &["check-config"],
        &[
            ("CIBA_HTTP__MAX_CONNECTIONS", "77"),
            ("CIBA_ADMIN_TOKEN_FILE", &token),
            (
                "CIBA_DATABASE_URL",
                "postgres://ciba:db-password@db.internal/ciba",
            ),
            ("CIBA_ATTESTATION__POLICY", "required"),
            ("CIBA_LISTN", "127.0.0.1:1"),
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("max_connections = 77"), "{stdout}");
    assert!(stdout.contains("policy = \"required\""), "{stdout}");
    assert!(stdout.contains("admin_token = \"<redacted>\""), "{stdout}");
    assert!(
        stdout.contains("postgres://ciba:redacted@db.internal/ciba"),
        "{stdout}"
    );
    assert!(!stdout.contains("a-secret-admin-token") && !stdout.contains("db-password"));
    assert!(
        stderr.contains("warning: CIBA_LISTN names no setting"),
        "{stderr}"
    );
    assert!(stderr.contains("the configuration is valid"), "{stderr}");
    // Nothing was created: no database, no generated token.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn check_config_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for (env, expected) in [
        (
            ("CIBA_LISTEN", "bad"),
            "CIBA_LISTEN: invalid socket address",
        ),
        (
            ("CIBA_HTTP__MAX_CONNECTIONS", "many"),
            "CIBA_HTTP__MAX_CONNECTIONS: \"many\" is not an integer",
        ),
        (
            (
                "CIBA_ATTESTATION__ANDROID__ROOTS_FILE",
                "/nonexistent/roots.pem",
            ),
            "attestation: /nonexistent/roots.pem",
        ),
        (("CIBA_ISSUER", "http://bank.example"), "must be https"),
    ] {
        let out = run(&["check-config"], &[env], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
    // A bad file is reported against the file.
    let file = dir.path().join("ciba.toml");
    std::fs::write(&file, "[http]\nmax_conections = 5\n").unwrap();
    let out = run(
        &["--config", file.to_str().unwrap(), "check-config"],
        &[],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ciba.toml") && stderr.contains("max_conections"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_container_needs_no_file_the_server_runs_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{ADMIN_TOKEN}\n")).unwrap();
    let db = format!("sqlite://{}", dir.path().join("env.db").display());
    let listen = free_loopback_addr();
    let child = Command::new(server_binary())
        .current_dir(dir.path())
        .env_clear()
        .env("CIBA_LISTEN", &listen)
        .env("CIBA_DATABASE_URL", &db)
        .env("CIBA_ADMIN_TOKEN_FILE", &token)
        .env("CIBA_CIBA__DEFAULT_EXPIRY", "240")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    wait_until_ready(&http, &base).await;
    // The admin token came from the file.
    let (status, user) = json_answer(
        http.request(Method::POST, format!("{base}/admin/v1/users"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"username": "env"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let (status, client) = json_answer(
        http.request(Method::POST, format!("{base}/admin/v1/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Env", "backchannel_token_delivery_mode": "poll"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    // [ciba] default_expiry from the environment decides expires_in.
    let (status, answer) = json_answer(
        http.post(format!("{base}/backchannel/authenticate"))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[("scope", "openid"), ("login_hint", "env")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["expires_in"], 240);
    assert!(dir.path().join("env.db").exists());
}
