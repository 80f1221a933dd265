//! Harness for end-to-end tests: runs each hookline service as its own OS
//! process (the real binary) against the real NATS and Postgres, isolated by
//! a fresh `nats.prefix` and fresh databases, and cleans up afterwards.
//!
//! Tests wait by polling with a deadline ([`wait_for`]), never by sleeping a
//! fixed time.

pub mod badinput;
pub mod check;
pub mod exact;
pub mod flow;
pub mod nats_server;
pub mod pg_cluster;
pub mod pipeline;
pub mod proxy;
pub mod scan;
pub mod send;
pub mod signed;
pub mod stack;
pub mod workload;

pub use stack::{Service, Stack};

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
///
/// Taken below Linux's ephemeral range (32768 and up), where a port the
/// kernel hands out is also the local port of outgoing connections: a stack
/// and a NATS cluster open many, and one of them could take a listener's
/// port between this check and the service's own bind.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = rand_port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A port in 20000..32000, varied by time and process so parallel tests
/// rarely try the same one.
fn rand_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    20_000 + (h.finish() % 12_000) as u16
}

/// The `hookline` binary built beside the test binary (`cargo build` first;
/// `scripts/test` does).
pub fn hookline_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("hookline");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p hookline` first",
        bin.display()
    );
    bin
}
