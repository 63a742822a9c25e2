//! The database goes away and comes back: requests in flight are answered again, nothing decided
//! is lost. Runs in the PostgreSQL pass, on a cluster of its own that it really stops and starts.

use std::process::Command;

use ciba_e2e::*;
use serde_json::json;

const CLUSTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-cluster.sh");

struct Cluster {
    dir: String,
}

impl Cluster {
    fn start(dir: &str, port: u16) -> String {
        let out = Command::new(CLUSTER)
            .args(["start", dir, &port.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn stop(&self) {
        let out = Command::new(CLUSTER)
            .args(["stop", &self.dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        // pg-cluster.sh keeps initdb's log beside the data directory.
        let _ = std::fs::remove_file(format!("{}.initdb.log", self.dir));
    }
}

async fn ready(server: &TestServer) -> bool {
    matches!(server.http.get(server.url("/readyz")).send().await, Ok(r) if r.status() == 200)
}

#[tokio::test]
async fn database_restart_loses_nothing() {
    if !postgres_pass("database_restart_loses_nothing") {
        return;
    }
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = format!("/tmp/ciba-pg-restart-{port}");
    let url = Cluster::start(&dir, port);
    let cluster = Cluster { dir: dir.clone() };
    let server = TestServer::start_on(Some(url), |_| {}).await;

    let (_user, sdk, _account) = server.user_with_device("alice").await;
    let client = server.create_client(json!({})).await;
    let approved = server.start_ciba(&client, "alice").await;
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    server.clock.advance(1);
    let pending = server.start_ciba(&client, "alice").await;

    cluster.stop();
    let during = server.poll(&client, &approved).await;
    assert_eq!(
        (during.status, during.error()),
        (503, "temporarily_unavailable"),
        "{}",
        during.body
    );
    assert!(!ready(&server).await);

    Cluster::start(&dir, port);
    eventually(
        "the server is ready again once the database is back",
        || async { ready(&server).await.then_some(()) },
    )
    .await;
    let tokens = server.poll(&client, &approved).await;
    assert_eq!(
        tokens.status, 200,
        "the decision made before the outage: {}",
        tokens.body
    );
    let txn = sdk.pending().await.unwrap().remove(0);
    sdk.approve(&txn, vec!["swk".into()]).await.unwrap();
    server.clock.advance(10);
    assert_eq!(
        server.poll(&client, &pending).await.status,
        200,
        "the request in flight"
    );
}
