//! `serve-approvals [--listen 127.0.0.1:8788] [--wait 10]`: the OpenID conformance suite's
//! `automated_ciba_approval_url`, served by the device, not by the server. The suite calls
//! `http://127.0.0.1:<port>/…?token=<auth_req_id>&type=allow|deny` after each backchannel
//! request; this terminal authenticator then approves or denies, with its enrolled key and the
//! ordinary device API, the newest pending request of its accounts — as a person at the phone
//! would. The device never learns an `auth_req_id` (it is the client's secret), so the request
//! is the newest one: run it on a test user that only the suite asks.
//!
//! One request at a time, on loopback only; every call and its outcome are printed.

use std::net::SocketAddr;
use std::time::Duration;

use ciba_core::authenticator::{Authenticator, Transaction};
use ciba_core::protocol::DenyReason;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::decide::approve_txn;
use crate::error::{CliError, CliResult};

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Serves until Ctrl-C.
pub async fn run(auth: &Authenticator, listen: SocketAddr, wait: u64) -> CliResult {
    if !listen.ip().is_loopback() {
        return Err(CliError(format!(
            "serve-approvals listens on loopback only (127.0.0.1 or ::1), not {listen}"
        )));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError(e.to_string()))?;
    println!(
        "Serving automated approvals on http://{bound}/?token={{auth_req_id}}&type={{allow|deny}}"
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let accepted = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let (status, body) = match read_head(&mut stream).await {
            Ok(target) => answer(auth, &target, wait).await,
            Err(why) => (
                400,
                json!({"error": "invalid_request", "error_description": why}),
            ),
        };
        let text = body.to_string();
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// The request target of a `GET` or `POST` (its body, if any, is not read).
async fn read_head(stream: &mut tokio::net::TcpStream) -> Result<String, String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the connection closed before the request head ended".to_owned());
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > MAX_HEAD {
                return Err("the request head is too long".to_owned());
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| "the request head did not arrive within 5 s".to_owned())??;
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET" | "POST"), Some(target)) => Ok(target.to_owned()),
        _ => Err(format!("not a GET or POST request: {line:?}")),
    }
}

/// `type` (or `action`) and `token` of the query.
fn query(target: &str) -> (Option<String>, Option<String>) {
    let mut decision = None;
    let mut token = None;
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "type" | "action" => decision = Some(value),
            "token" | "auth_req_id" => token = Some(value),
            _ => {}
        }
    }
    (decision, token)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
            && let Ok(value) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decides the newest pending request as the query says; waits up to `wait` seconds for one.
async fn answer(auth: &Authenticator, target: &str, wait: u64) -> (u16, Value) {
    let (decision, token) = query(target);
    let approve = match decision.as_deref() {
        Some("allow" | "approve") => true,
        Some("deny") => false,
        _ => {
            return (
                400,
                json!({"error": "invalid_request", "error_description": "type must be allow or deny"}),
            );
        }
    };
    let token = token.unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let txn: Transaction = loop {
        match auth.pending().await {
            Ok(pending) => {
                if let Some(newest) = pending.into_iter().max_by_key(|t| t.view.requested_at) {
                    break newest;
                }
            }
            Err(e) => eprintln!("warning: listing pending requests failed: {e}"),
        }
        if tokio::time::Instant::now() >= deadline {
            println!(
                "{} for {token}: no pending request",
                if approve { "allow" } else { "deny" }
            );
            return (
                404,
                json!({"error": "not_found", "error_description": format!("no pending request within {wait} s")}),
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let outcome = if approve {
        approve_txn(auth, &txn).await
    } else {
        auth.deny(&txn, DenyReason::UserDeclined)
            .await
            .map_err(CliError::from)
    };
    match outcome {
        Ok(status) => {
            let decided = format!("{status:?}").to_lowercase();
            println!(
                "{} for {token}: {} {decided}",
                if approve { "allow" } else { "deny" },
                txn.view.id
            );
            (200, json!({"txn": txn.view.id, "decision": decided}))
        }
        Err(e) => {
            println!(
                "{} for {token}: {} failed: {e}",
                if approve { "allow" } else { "deny" },
                txn.view.id
            );
            (
                500,
                json!({"error": "server_error", "error_description": e.to_string()}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_suites_query() {
        assert_eq!(
            query("/ciba?token=abc%2Bdef&type=allow"),
            (Some("allow".into()), Some("abc+def".into()))
        );
        assert_eq!(query("/?action=deny"), (Some("deny".into()), None));
        assert_eq!(query("/"), (None, None));
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
