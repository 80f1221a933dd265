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
pub mod ops;
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
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
