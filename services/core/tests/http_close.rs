//! A refusal sent before the request body has arrived must reach the client.
//!
//! When a handler refuses a large upload without reading it (413, 404),
//! the server answers with `Connection: close` while the client may still be
//! writing. Closing the socket then, with the unread upload in its receive
//! buffer, makes the kernel send a reset: the client gets "broken pipe"
//! instead of the answer. The server has to linger: stop writing, read and
//! discard what the client still sends, and close only once the client has.
//! No NATS or Postgres needed.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use hookline_core::Shutdown;
use hookline_core::http::{ServeOptions, serve};
use std::time::Duration;

/// Much more than the socket buffers on both sides hold, so the client is
/// still writing when the answer comes.
const UPLOAD: usize = 8 * 1024 * 1024;

async fn server(read_timeout: Duration) -> (String, Shutdown) {
    let router = Router::new()
        .route("/upload", post(|| async { StatusCode::PAYLOAD_TOO_LARGE }))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Shutdown::new();
    let options = ServeOptions {
        http2: false,
        read_timeout,
    };
    tokio::spawn(serve(listener, router, options, shutdown.clone()));
    (base, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refused_unread_gets_its_answer_every_time() {
    let (base, shutdown) = server(Duration::from_secs(5)).await;
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let upload = bytes::Bytes::from(vec![b'x'; UPLOAD]);
    for i in 0..30 {
        let answer = client
            .post(format!("{base}/upload"))
            .header("content-type", "application/octet-stream")
            .body(upload.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload #{i}: no answer: {e:?}"));
        assert_eq!(
            answer.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload #{i}"
        );
        let next = client.get(format!("{base}/healthz")).send().await;
        assert_eq!(next.unwrap().status(), StatusCode::OK, "request after #{i}");
    }
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_closes_is_let_go_after_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (base, shutdown) = server(Duration::from_secs(1)).await;
    // Before anything is sent, so the server's linger cannot have started
    // earlier: whatever the scheduling, a lingering server lets go no
    // sooner than 1 s after this.
    let started = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {UPLOAD}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b'x'; 100 * 1024]).await.unwrap();
    // The answer comes, then the server's FIN; the client keeps its side
    // open and sends nothing more.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(read.is_ok(), "the server closed its side");
    // The lingering server still holds the connection; it drops it within
    // its read time-out, so a write soon fails.
    let gone = async {
        loop {
            if s.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the server let go of the connection within its read time-out");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it lingered first"
    );
    shutdown.trigger();
}
