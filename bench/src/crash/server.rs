//! The server under test as a child process: started with the harness's configuration on one
//! database and one port, killed with SIGKILL, started again.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the server is started.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub listen: String,
    pub database_url: String,
    pub admin_token: String,
    /// stdout and stderr of every life, appended.
    pub log: PathBuf,
    /// `RUST_LOG` of the server.
    pub rust_log: String,
}

/// A running server.
pub struct Server {
    spec: ServerSpec,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Server {
    /// Starts the first life.
    pub fn new(spec: ServerSpec) -> Result<Self, String> {
        // No pool: a pooled connection to a killed server would only fail the next probe.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            spec,
            child: None,
            http,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(|e| format!("{}: {e}", self.spec.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.spec.bin)
            .arg("--config")
            .arg(&self.spec.config)
            .arg("--listen")
            .arg(&self.spec.listen)
            .arg("--database-url")
            .arg(&self.spec.database_url)
            .env("CIBA_ADMIN_TOKEN", &self.spec.admin_token)
            .env("RUST_LOG", &self.spec.rust_log)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.spec.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL (`Child::kill` on Unix), then reaps the process.
    pub fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|e| format!("kill: {e}"))?;
            child.wait().map_err(|e| format!("wait: {e}"))?;
        }
        Ok(())
    }

    /// Starts the next life on the same database and port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill()?;
        self.spawn()
    }

    /// Waits until `/readyz` answers 200; returns how long it took. Fails after `timeout`, or
    /// as soon as the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let url = format!("http://{}/readyz", self.spec.listen);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "the server exited during start-up ({status}); see {}",
                    self.spec.log.display()
                ));
            }
            if let Ok(resp) = self.http.get(&url).send().await
                && resp.status().is_success()
            {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "not ready within {} s; see {}",
                    timeout.as_secs(),
                    self.spec.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
