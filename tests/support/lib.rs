//! Harness for end-to-end tests: runs each hookline service as its own OS
//! process (the real binary) against the real NATS and Postgres, isolated by
//! a fresh `nats.prefix` and fresh databases, and cleans up afterwards.
//!
//! Tests wait by polling with a deadline ([`wait_for`]), never by sleeping a
//! fixed time.

pub mod badinput;
pub mod check;
pub mod flow;
pub mod hubspot;
pub mod nats_cluster;
pub mod nats_server;
pub mod operator;
pub mod ops;
pub mod optimocms_receiver;
pub mod otlp;
pub mod pg_cluster;
pub mod pipeline;
pub mod proxy;
pub mod scan;
pub mod scrape_metrics;
pub mod secure_nats;
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

/// First port handed out, and how many there are: below the kernel's
/// ephemeral range (32768 and up on Linux).
const PORT_BASE: u32 = 20_000;
const PORT_SPAN: u32 = 12_000;

/// A TCP port on 127.0.0.1 that nothing listens on, for a process a test is
/// about to start.
///
/// Each port is handed out once per test binary, from below the ephemeral
/// range. A port picked by binding port 0 and releasing it could be picked
/// again by a stack running in parallel, or taken by any outgoing
/// connection, before the process that was meant to listen on it started;
/// that process then failed to bind while `/readyz` answered from the other
/// one. Concurrent test binaries start at different offsets.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let offset = (std::process::id() % 64) * (PORT_SPAN / 64);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = PORT_BASE + (offset + n) % PORT_SPAN;
        let port = u16::try_from(port).expect("below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
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
