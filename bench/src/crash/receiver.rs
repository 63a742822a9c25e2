//! The ping client's notification endpoint: a loopback HTTP server that answers every ping
//! `204` and records it, with the server life it arrived in.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::ledger::{Ping, Shared};

/// Starts the receiver on 127.0.0.1 (a free port); returns its address.
pub async fn start(ledger: Shared) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new().fallback(receive).with_state(ledger);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

async fn receive(State(ledger): State<Shared>, body: Bytes) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = body.get("auth_req_id").and_then(Value::as_str) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut ledger = ledger.lock();
    let ping = Ping {
        generation: ledger.generation,
        at: Instant::now(),
    };
    ledger.pings.entry(id.to_owned()).or_default().push(ping);
    ledger.counters.pings_received += 1;
    StatusCode::NO_CONTENT
}
