//! Read time-outs and HTTP/2 on the public listeners, against real
//! processes: a client that sends half a request (headers or body), or
//! nothing at all, is cut off after `edge.read_timeout` /
//! `ingest.read_timeout`; cleartext HTTP/2 is served only where
//! `edge.http2` / `ingest.http2` turns it on.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test http_timeouts`.

use hookline_e2e::{Service, Stack};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The configured time-out; the checks allow far more, for a loaded machine.
const READ_TIMEOUT: &str = "1s";
const LIMIT: Duration = Duration::from_secs(20);

async fn stack() -> Stack {
    let mut stack = Stack::new();
    stack.extra_env.extend(
        [
            ("HOOKLINE__EDGE__READ_TIMEOUT", READ_TIMEOUT),
            ("HOOKLINE__INGEST__READ_TIMEOUT", READ_TIMEOUT),
            ("HOOKLINE__INGEST__HTTP2", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    stack.start(Service::Edge).await;
    stack.start(Service::Ingest).await;
    stack
}

fn addr(stack: &Stack, service: Service) -> String {
    stack.url(service).trim_start_matches("http://").to_string()
}

/// Sends `bytes` and never more; returns what the server sent until it
/// closed the connection, and how long that took.
async fn send_and_wait_for_close(addr: &str, bytes: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(LIMIT, s.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("{addr}: still open after {LIMIT:?}, sent {bytes:?}"));
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_are_cut_off() {
    let stack = stack().await;
    for service in [Service::Edge, Service::Ingest] {
        let addr = addr(&stack, service);

        // Nothing at all, then half the headers: closed without an answer.
        for bytes in [&b""[..], b"POST /api/page-view HTTP/1.1\r\nhost: x\r\n"] {
            let (got, took) = send_and_wait_for_close(&addr, bytes).await;
            assert!(got.is_empty(), "{service:?}: {got}");
            assert!(
                took >= Duration::from_millis(900),
                "{service:?} waited {took:?}"
            );
        }

        // Whole headers, half the body: a 408 that closes the connection.
        let path = match service {
            Service::Edge => "/api/page-view",
            _ => "/api/webhooks/resources-centre",
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"content"
        );
        let (got, _) = send_and_wait_for_close(&addr, head.as_bytes()).await;
        assert!(got.starts_with("HTTP/1.1 408"), "{service:?}: {got}");
        assert!(
            got.to_ascii_lowercase().contains("connection: close"),
            "{service:?}: {got}"
        );
        assert!(got.contains("not received within"), "{service:?}: {got}");
    }

    // A client that keeps its side of the bargain is not affected.
    let (status, _) = stack
        .post_edge(
            "/api/page-view",
            &serde_json::json!({"content_type": "news", "content_id": "t-1", "slug": "t"}),
        )
        .await;
    assert_eq!(status, 202);
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_only_where_configured() {
    let stack = stack().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(LIMIT)
        .build()
        .expect("client");

    let edge = h2
        .get(format!("{}/healthz", stack.url(Service::Edge)))
        .send()
        .await;
    assert!(
        edge.is_err(),
        "edge spoke HTTP/2 without edge.http2: {edge:?}"
    );

    let ingest = h2
        .get(format!("{}/healthz", stack.url(Service::Ingest)))
        .send()
        .await
        .expect("ingest.http2 = true serves HTTP/2");
    assert_eq!(ingest.status().as_u16(), 200);
    assert_eq!(ingest.version(), reqwest::Version::HTTP_2);

    // No edge.identity_secret here: claims are believed, and start-up said so.
    assert!(
        stack
            .logs()
            .contains("edge.identity_secret is not set: any client may claim"),
        "start-up warning"
    );

    // HTTP/1.1 still works on both.
    for service in [Service::Edge, Service::Ingest] {
        let r = stack
            .http()
            .get(format!("{}/healthz", stack.url(service)))
            .send()
            .await
            .expect("HTTP/1.1");
        assert_eq!(r.status().as_u16(), 200);
    }
    stack.cleanup().await;
}
