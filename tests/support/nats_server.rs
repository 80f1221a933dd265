//! nats-server processes owned by one test: a single JetStream node on a free
//! port with its own store dir (the 3-node cluster of `deploy/nats/cluster/`
//! is in [`crate::nats_cluster`], re-exported here).
//!
//! Fault tests stop, kill and restart these; they never touch the machine's
//! shared server (127.0.0.1:4222). The binary is `nats-server` on `PATH`, else
//! `/usr/sbin/nats-server`, or `HOOKLINE_NATS_SERVER` if set.

pub use crate::nats_cluster::*;

use crate::free_port;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a node may take to come up (JetStream recovery included).
pub(crate) const START_LIMIT: Duration = Duration::from_secs(60);

/// The nats-server binary.
pub fn nats_server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HOOKLINE_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// Sends a signal with `kill(1)` (the harness has no libc binding).
pub(crate) fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

/// Waits for a child to exit, at most `limit`; kills it if it does not.
pub(crate) async fn reap(child: &mut Child, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a node's monitoring endpoint says it is healthy (JetStream
/// included: 2.9's `/healthz` fails until JetStream has recovered).
pub(crate) async fn wait_healthy(child: &mut Child, monitor_port: u16, log: &Path) {
    let url = format!("http://127.0.0.1:{monitor_port}/healthz");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + START_LIMIT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "nats-server exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server (monitor :{monitor_port}) not healthy in {START_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A single JetStream node with file storage, owned by the test.
pub struct NatsServer {
    port: u16,
    monitor_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a node on free ports with a fresh store dir and waits until it
    /// is healthy.
    pub async fn start() -> Self {
        let mut server = Self::unstarted();
        server.start_again().await;
        server
    }

    /// Ports and a store dir, but no process yet ([`Self::start_again`]
    /// starts it): for services that must cope with a server not up yet.
    pub fn unstarted() -> Self {
        Self {
            port: free_port(),
            monitor_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<monitoring port>` (`/varz`, `/jsz`, `/healthz`).
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// The JetStream store dir (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// Everything the server logged, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Starts the server (again) on the same port and store dir, and waits
    /// until it is healthy.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let store = self.store_dir();
        let mut child = Command::new(nats_server_bin())
            .args(["-js", "-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .arg("-sd")
            .arg(&store)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("nats-server starts (is it installed?)");
        wait_healthy(&mut child, self.monitor_port, &self.log_path()).await;
        self.child = Some(child);
    }

    /// A graceful stop (SIGTERM): the server flushes its store and exits.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "-TERM");
            reap(&mut child, Duration::from_secs(30)).await;
        }
    }

    /// `kill -9`: no flush, no goodbye to clients. What was written to the
    /// store files survives (it is in the OS page cache), as after a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
