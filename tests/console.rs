//! The operators' console in a real browser: `tests/browser/console.mjs` drives headless
//! Chromium (Debian's `chromium`, through playwright-core) against the real server and the real
//! terminal authenticator — sign-in, search, an enrollment QR code a phone enrolls from, a
//! client created (a refused field shown at the field), a request watched live until approved
//! and redeemed, a lock cancelling a pending request, the audit log, the overview, labels and a
//! narrow screen, sign-out. Then the server's own records are checked here. Screenshots go to
//! `target/console-screenshots/` (`CIBA_CONSOLE_SCREENSHOTS` to choose; the README's come from
//! this test). Needs `npm ci --prefix tests/browser` and Chromium (scripts/test.sh, .ci/run).

use std::path::{Path, PathBuf};
use std::process::Command;

use ciba_e2e::*;
use serde_json::json;

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium is not installed at {} (apt-get install chromium; or set CHROMIUM)",
        path.display()
    );
    path
}

fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (scripts/test.sh does)"
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let server = TestServer::start().await;
    let username = "anna.kowalska";
    let email = "anna.kowalska@bank.example";
    let (status, user) = server
        .admin(
            reqwest::Method::POST,
            "/admin/v1/users",
            Some(json!({"username": username, "email": email, "display_name": "Anna Kowalska"})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    // Someone else, who must not come up in her search.
    server.create_user("bob").await;

    let home = tempfile::tempdir().unwrap();
    // Relative to the workspace (node runs in tests/browser/).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let screenshots = workspace.join(
        std::env::var_os("CIBA_CONSOLE_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/console-screenshots")),
    );
    let config = json!({
        "base": server.base,
        "admin_token": ADMIN_TOKEN,
        "username": username,
        "email": email,
        "authenticator": authenticator_binary(),
        "home": home.path(),
        "screenshots": screenshots,
        "chromium": chromium(),
    });
    let dir = browser_dir();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("console.mjs")
            .current_dir(dir)
            .env("CONSOLE_CONFIG", config.to_string())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            "signed_in",
            "user_found",
            "enrolled_from_qr",
            "client_created",
            "approved_live",
            "locked_and_cancelled",
            "audit_read",
            "overview_counts",
            "accessible",
            "signed_out",
            "done"
        ]
    );
    assert_eq!(steps[1]["userId"], user_id.as_str());

    // What the browser did, as the server recorded it.
    let (_, user) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/users/{user_id}"),
            None,
        )
        .await;
    assert_eq!(user["status"], "locked");
    let (_, devices) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/devices?user_id={user_id}"),
            None,
        )
        .await;
    assert_eq!(devices["devices"][0]["display_name"], "Anna's terminal");
    let (_, requests) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/requests?user_id={user_id}"),
            None,
        )
        .await;
    let states: Vec<&str> = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["cancelled", "redeemed"]);
    let kinds: Vec<String> = server
        .audit_events(&user_id)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["enrollment_created", "device_enrolled", "user_locked"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let (_, signins) = server
        .admin(
            reqwest::Method::GET,
            "/admin/v1/audit?kind=console_sign_in_failed",
            None,
        )
        .await;
    assert_eq!(signins["events"].as_array().unwrap().len(), 1);
    let (_, signouts) = server
        .admin(
            reqwest::Method::GET,
            "/admin/v1/audit?kind=console_sign_out",
            None,
        )
        .await;
    assert_eq!(signouts["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn console_sessions_cookies_csrf_and_expiry() {
    let server = TestServer::start().await;
    let url = |path: &str| format!("{}{path}", server.base);

    // The page: a strict CSP, no framing, not cached.
    let page = server.http.get(url("/console")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // A wrong token: 401 with the admin API's error body, no cookie, audited.
    let refused = server
        .http
        .post(url("/console/session"))
        .json(&json!({"admin_token": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    // Not JSON: a form post from another site cannot sign anyone in.
    let form = server
        .http
        .post(url("/console/session"))
        .form(&[("admin_token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);

    let (cookie, csrf, set_cookie) = server.console_session().await;
    // http on loopback (development): no Secure, so the browser keeps it; the rest always.
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(set_cookie.contains("Path=/") && set_cookie.contains("Max-Age=28800"));
    assert!(!set_cookie.contains("Secure"));
    assert!(cookie.starts_with("ciba_console=") && cookie.len() > "ciba_console=".len() + 40);

    let get = |path: &str| server.http.get(url(path)).header("cookie", &cookie).send();
    assert_eq!(get("/admin/v1/users").await.unwrap().status(), 200);
    let again: serde_json::Value = get("/console/session").await.unwrap().json().await.unwrap();
    assert_eq!(again["csrf_token"], csrf.as_str());

    // A change without the CSRF token, or with another, is refused and changes nothing.
    for token in [None, Some("not-the-token")] {
        let mut request = server
            .http
            .post(url("/admin/v1/users"))
            .header("cookie", &cookie)
            .json(&json!({"username": "mallory"}));
        if let Some(t) = token {
            request = request.header("x-csrf-token", t);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_csrf_token");
    }
    let (_, users) = server
        .admin(reqwest::Method::GET, "/admin/v1/users?q=mallory", None)
        .await;
    assert_eq!(users["users"].as_array().unwrap().len(), 0);
    let created = server
        .http
        .post(url("/admin/v1/users"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"username": "carol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Idle: used within 30 minutes it lives on; 30 minutes unused, it is over.
    server.clock.advance(1700);
    assert_eq!(get("/admin/v1/users").await.unwrap().status(), 200);
    server.clock.advance(1700);
    assert_eq!(get("/admin/v1/users").await.unwrap().status(), 200);
    server.clock.advance(1801);
    let ended = get("/admin/v1/users").await.unwrap();
    assert_eq!(ended.status(), 401);
    let body: serde_json::Value = ended.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("sign in again")
    );

    // A page's own refreshes (X-Console-Background) do not keep a session alive; signing out
    // of an ended session still clears the cookie.
    let (cookie, _, _) = server.console_session().await;
    let refresh = || {
        server
            .http
            .get(url("/admin/v1/requests"))
            .header("cookie", &cookie)
            .header("x-console-background", "1")
            .send()
    };
    for _ in 0..3 {
        server.clock.advance(500);
        assert_eq!(refresh().await.unwrap().status(), 200);
    }
    server.clock.advance(301); // 1801 s after the last use
    assert_eq!(refresh().await.unwrap().status(), 401);
    let out = server
        .http
        .delete(url("/console/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // Absolute: 8 hours after sign-in, however busy.
    let (cookie, _, _) = server.console_session().await;
    for _ in 0..16 {
        server.clock.advance(1700);
        let status = server
            .http
            .get(url("/admin/v1/users"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    server.clock.advance(1700); // 8 h 1 min 40 s after sign-in
    let status = server
        .http
        .get(url("/admin/v1/users"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    // Sign-out ends the session at once (with its CSRF token), and clears the cookie.
    let (cookie, csrf, _) = server.console_session().await;
    let no_csrf = server
        .http
        .delete(url("/console/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let out = server
        .http
        .delete(url("/console/session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let status = server
        .http
        .get(url("/admin/v1/users"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    // The bearer token is unaffected by all of it.
    let (status, _) = server
        .admin(reqwest::Method::GET, "/admin/v1/users", None)
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<String> = {
        let (_, audit) = server
            .admin(
                reqwest::Method::GET,
                "/admin/v1/audit?kind=console_sign_in",
                None,
            )
            .await;
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds.len(), 4, "one per sign-in");
}

#[tokio::test]
async fn a_disabled_console_serves_nothing_and_takes_no_sign_in() {
    let server = TestServer::start_with(|s| s.console.enabled = false).await;
    for path in ["/console", "/console/app.js"] {
        let answer = server
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    let answer = server
        .http
        .post(format!("{}/console/session", server.base))
        .json(&json!({"admin_token": ADMIN_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert!(answer.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn overview_audit_filters_and_enrollment_qr_codes() {
    let server = TestServer::start().await;
    let (user, sdk, _account) = server.user_with_device("alice").await;
    let user_id = user["id"].as_str().unwrap();
    // When the device was last seen: at enrollment, then on the device API to the minute.
    let seen = || async {
        let (_, devices) = server
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/devices?user_id={user_id}"),
                None,
            )
            .await;
        let d = &devices["devices"][0];
        (
            d["enrolled_at"].as_i64().unwrap(),
            d["last_seen_at"].as_i64().unwrap(),
        )
    };
    let (enrolled, first) = seen().await;
    assert_eq!(first, enrolled);
    server.clock.advance(120);
    sdk.pending().await.unwrap();
    assert_eq!(seen().await.1, enrolled + 120);
    server.clock.advance(30);
    sdk.pending().await.unwrap();
    assert_eq!(seen().await.1, enrolled + 120, "one write a minute at most");
    let client = server.create_client(json!({})).await;
    server.start_ciba(&client, "alice").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    server.start_ciba(&client, "alice").await; // stays pending
    let (_, overview) = server
        .admin(reqwest::Method::GET, "/admin/v1/overview", None)
        .await;
    let minutes = overview["requests_per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let sum = |k: &str| minutes.iter().map(|m| m[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("approved"), sum("pending"), sum("denied")), (1, 1, 0));
    assert!(overview["delivery"]["push"]["fcm"]["sent"].is_u64());
    // Expired, once the clock passes the requests' expiry: the pending one only.
    server.clock.advance(3000);
    let (_, overview) = server
        .admin(reqwest::Method::GET, "/admin/v1/overview", None)
        .await;
    let minutes = overview["requests_per_minute"].as_array().unwrap();
    let sum = |k: &str| minutes.iter().map(|m| m[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("approved"), sum("expired"), sum("pending")), (1, 1, 0));

    // The live stream: an overview event at once.
    let mut stream = server
        .http
        .get(format!(
            "{}/admin/v1/overview/stream?interval=1",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = stream.chunk().await.unwrap().expect("an event");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: overview\ndata: {"), "{text}");
    drop(stream);
    let bad = server
        .http
        .get(format!(
            "{}/admin/v1/overview/stream?interval=0",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // The audit log: filters, newest first, cursor pages that neither skip nor repeat.
    let (_, all) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?user_id={user_id}&order=desc"),
            None,
        )
        .await;
    let all: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(
        all.len() >= 4 && all.windows(2).all(|w| w[0] > w[1]),
        "{all:?}"
    );
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = server
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/audit?user_id={user_id}&order=desc&limit=2{cursor}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        paged.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let (_, by_kind) = server
        .admin(
            reqwest::Method::GET,
            "/admin/v1/audit?kind=device_enrolled",
            None,
        )
        .await;
    assert_eq!(by_kind["events"].as_array().unwrap().len(), 1);
    let (_, by_client) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?client_id={}", client.id),
            None,
        )
        .await;
    let events = by_client["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["client_id"] == client.id.as_str()));
    let latest = all[0];
    let (_, window) = server
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?since={}&until={}", i64::MAX - 1, i64::MAX),
            None,
        )
        .await;
    assert_eq!(window["events"].as_array().unwrap().len(), 0, "{latest}");
    for bad in ["order=sideways", "cursor=abc", "limit=0", "limit=10001"] {
        let (status, body) = server
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/audit?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request");
    }

    // An enrollment with its QR code, as SVG; only SVG.
    let (status, created) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/users/{user_id}/enrollments?qr=svg"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let svg = created["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    assert!(
        created["uri"]
            .as_str()
            .unwrap()
            .starts_with("ciba-enroll://")
    );
    let (status, plain) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/users/{user_id}/enrollments"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    assert!(plain.get("qr_svg").is_none());
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/users/{user_id}/enrollments?qr=png"),
            None,
        )
        .await;
    assert_eq!(status, 400);
}
