//! When NATS cannot take an event the answer is 503 and nothing is half-done.

use crate::support::{Edge, config};
use hookline_core::names::RC_RAW;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const UNAVAILABLE: &str = "event could not be stored (NATS unavailable); retry later";

fn view() -> Value {
    json!({"content_type": "event", "content_id": "c", "slug": "s"})
}

#[tokio::test]
async fn no_stream_means_503_after_the_publish_deadline() {
    let edge = Edge::start(config()).await;
    edge.nats
        .js
        .delete_stream(edge.config.names().stream(RC_RAW))
        .await
        .unwrap();
    let (status, body) = edge.post("/api/page-view", view()).await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({"status": "error", "message": UNAVAILABLE}));
    let r = edge
        .http
        .get(edge.url("/t/event/s.gif?content_id=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    edge.stop().await;
}

/// The process, and its store directory (removed on drop).
struct Server(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn own_nats_server(port: u16) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    Server(child, dir)
}

#[tokio::test]
async fn nats_down_means_503_and_not_ready() {
    let port = spare_port();
    let mut server = own_nats_server(port);
    let mut cfg = config();
    cfg.nats.url = format!("nats://127.0.0.1:{port}");
    cfg.nats.connect_timeout = Duration::from_secs(10);
    let edge = Edge::start(cfg).await;
    let (status, _) = edge.post("/api/page-view", view()).await;
    assert_eq!(status, 202, "works while NATS is up");

    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let (status, body) = edge.post("/api/page-view", view()).await;
    assert_eq!(
        (status, body),
        (503, json!({"status": "error", "message": UNAVAILABLE}))
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = edge.http.get(edge.url("/readyz")).send().await.unwrap();
        if r.status() == 503 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["checks"]["nats"], "down");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never noticed NATS was down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    edge.stop_only().await;
}
