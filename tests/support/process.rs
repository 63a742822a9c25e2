//! The real `ciba-server` binary as a child process, for tests that need its own environment,
//! flags or exit status.

use std::path::{Path, PathBuf};

/// The `ciba-server` binary next to this test binary (`scripts/test.sh` builds it first).
pub fn server_binary() -> PathBuf {
    workspace_binary("ciba-server", "ciba-server")
}

/// The terminal authenticator's binary (`ciba-authenticator`), built like the server's.
pub fn authenticator_binary() -> PathBuf {
    workspace_binary("ciba-authenticator", "ciba-authenticator")
}

fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p {package}` first (scripts/test.sh does)",
        binary.display()
    );
    binary
}

/// A loopback address with a port nobody listens on right now (`127.0.0.1:<port>`).
pub fn free_loopback_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the server at `base` answers `/readyz` with a success.
pub async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    super::eventually("the server is ready", || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}
