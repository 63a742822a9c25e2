//! # ciba-server
//!
//! An OpenID Connect CIBA authorization server: client applications start backchannel
//! authentication requests, the user's enrolled phones decide with signed decisions, and clients
//! poll for tokens. [`app`] builds the HTTP application from an [`AppState`]; [`serve`] runs it.
//!
//! The domain (`ciba`, `clients`, `devices`, `admin`, `tokens`) knows nothing of HTTP: `http`
//! reads requests into typed values, authenticates the caller through extractors and renders
//! the domain's [`error::Error`]. `server/README.md` says where each concern lives.

pub mod admin;
pub mod attestation;
pub mod cache;
pub mod ciba;
pub mod clients;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod devices;
pub mod error;
pub mod http;
pub mod jwks;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod push;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod userinfo;

use std::future::Future;
use std::time::Duration;

pub use http::app;
pub use state::AppState;

/// Runs the HTTP application on `listener` until `shutdown` resolves, with the background
/// sweeper (expired requests past their tombstone retention, expired `jti`s and enrollments,
/// audit events past `ciba.audit_retention` when one is set),
/// the client-notification worker and the device-push worker, which the database's outbox
/// announcements also wake (PostgreSQL: rows committed by any instance).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Background work lives exactly as long as this future: if it is dropped (the process is
    // stopping, or a test kills the instance), the guards abort the tasks.
    let _sweeper = AbortOnDrop(tokio::spawn(sweep_forever(state.clone())));
    let _notifier = AbortOnDrop(tokio::spawn(delivery::client_notifications::run_worker(
        state.clone(),
    )));
    let _waker = AbortOnDrop(tokio::spawn(delivery::device_wakeups::run_worker(
        state.clone(),
    )));
    let _listener = AbortOnDrop(tokio::spawn(watch_outbox_forever(state.clone())));
    serve_http(listener, state, shutdown).await
}

/// Runs only the HTTP application, without the background sweeper and delivery workers: the
/// caller runs their rounds itself (`delivery::client_notifications::work_once`,
/// `delivery::device_wakeups::work_once`), as tests do to drive them step by step.
///
/// HTTP/1.1 with the limits of `[http]`: a request head must arrive within
/// `header_read_timeout_ms` (also between requests on a kept-alive connection), a request must
/// be read and answered within `request_timeout_ms` (`408` otherwise), at most
/// `max_connections` are open (more are closed at once). On `shutdown` no new connection is
/// accepted, idle ones close, and requests in flight get `shutdown_grace_ms` to finish.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let limits = state.settings.http.clone();
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let service = TowerToHyperService::new(app(state.clone()));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let tls = state.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors or a connection reset before it was accepted: the
                // listener itself is fine; wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            state.metrics.connection_refused();
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: too many open connections"
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            // An error here is the client's doing (a reset, a timeout, a failed handshake):
            // nothing to report.
            match tls {
                None => {
                    let connection = http::Connection {
                        peer,
                        certificates: None,
                    };
                    let service = http::WithConnection::new(service, connection);
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                Some(acceptor) => {
                    // The handshake counts against the header-read time (a client that opens
                    // a connection and never finishes its hello is dropped).
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let certificates = stream.get_ref().1.peer_certificates().map(|chain| {
                        std::sync::Arc::new(chain.iter().map(|c| c.to_vec()).collect())
                    });
                    let connection = http::Connection { peer, certificates };
                    let service = http::WithConnection::new(service, connection);
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = limits.shutdown_grace_ms,
            "requests still in flight at the end of the shutdown grace period are no longer waited for"
        );
    }
    Ok(())
}

async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = state.now();
        match state
            .store
            .sweep(now, now - state.settings.ciba.tombstone_retention)
            .await
        {
            Ok(stats) if stats != Default::default() => {
                tracing::debug!(?stats, "swept expired records")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
        }
        let retention = state.settings.ciba.audit_retention;
        if retention > 0 {
            match state.store.prune_audit(now - retention).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "pruned audit events past their retention"),
                Err(e) => tracing::warn!(error = %e, "audit pruning failed; will retry"),
            }
        }
    }
}

/// Wakes this instance's delivery workers whenever the database announces a committed outbox
/// row ([`store::Store::watch_outbox`]), by this instance or another one sharing the database.
/// While the database is unreachable it tries again after a pause that doubles up to 30 s; the
/// workers meanwhile find the rows at their interval.
async fn watch_outbox_forever(state: AppState) {
    const FIRST_PAUSE: Duration = Duration::from_millis(250);
    let changed = |outbox: store::Outbox| match outbox {
        store::Outbox::ClientNotifications => state.notify_wake.notify_one(),
        store::Outbox::DeviceWakeups => state.push.wake.notify_one(),
    };
    let mut pause = FIRST_PAUSE;
    loop {
        let started = tokio::time::Instant::now();
        match state.store.watch_outbox(&changed).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot listen for outbox announcements; the workers scan at their interval until it recovers"
                );
                if started.elapsed() > Duration::from_secs(60) {
                    pause = FIRST_PAUSE;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
