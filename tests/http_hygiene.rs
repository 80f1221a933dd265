//! Connection hygiene on every HTTP listener, against real processes: a
//! pooled HTTP/1.1 client that gets refusals (400, 401, 404, 405, 413, 415)
//! to requests carrying bodies keeps working on its next, valid requests;
//! a small unread body is drained and the connection kept; a large one is
//! answered with `Connection: close`.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test http_hygiene`.

use hookline_e2e::signed::legacy;
use hookline_e2e::stack::{ADMIN_TOKEN, API_KEY, SHARED_SECRET};
use hookline_e2e::{Service, Stack};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const INGEST_ROUTE: &str = "/api/webhooks/resources-centre";
/// Bigger than what the server drains (64 KiB): answered with a close.
const LARGE: usize = 300 * 1024;
/// Smaller than that: drained, the connection kept.
const SMALL: usize = 20 * 1024;
/// Over every listener's body limit.
const TOO_LARGE: usize = 3 * 1024 * 1024;

/// One request of a round and the status it must get.
struct Case {
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn case(method: Method, path: &'static str, ctype: &str, body: Vec<u8>, status: u16) -> Case {
    Case {
        method,
        path,
        headers: vec![
            ("content-type", ctype.to_string()),
            ("user-agent", BROWSER.into()),
        ],
        body,
        status,
    }
}

fn filler(len: usize) -> Vec<u8> {
    vec![b'x'; len]
}

fn page_view() -> Vec<u8> {
    json!({"content_type": "resource", "content_id": "hyg-1", "slug": "hygiene",
        "title": "Hygiene", "url": "https://rc.example/resource/hygiene"})
    .to_string()
    .into_bytes()
}

/// A legacy body, large, with neither signature nor the right API key.
fn unsigned_delivery() -> Vec<u8> {
    json!({"api_key": "wrong", "event": "page_view",
        "data": {"content_type": "resource", "content_id": "x", "title": "x".repeat(LARGE)}})
    .to_string()
    .into_bytes()
}

/// Refusals with bodies of both sizes, each followed by valid requests.
fn rounds(refusals: Vec<Case>, valid: impl Fn() -> Case) -> Vec<Case> {
    let mut out = Vec::new();
    for refusal in refusals {
        out.push(refusal);
        out.push(valid());
        out.push(valid());
    }
    out
}

fn refusals_with(
    mut cases: Vec<Case>,
    not_found: &'static str,
    wrong_method: (Method, &'static str),
) -> Vec<Case> {
    for len in [SMALL, LARGE] {
        cases.push(case(
            Method::POST,
            not_found,
            "application/json",
            filler(len),
            404,
        ));
        let (m, p) = wrong_method.clone();
        cases.push(case(m, p, "application/json", filler(len), 405));
    }
    cases
}

/// Runs every case in order on one pooled HTTP/1.1 client (at most one idle
/// connection, so each request reuses the previous one's when it can).
async fn run(label: &str, base: &str, cases: Vec<Case>) {
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    for (i, c) in cases.into_iter().enumerate() {
        let mut req = client.request(c.method.clone(), format!("{base}{}", c.path));
        for (k, v) in &c.headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req.body(c.body).send().await.unwrap_or_else(|e| {
            panic!(
                "{label} #{i} {} {}: no answer on a pooled connection: {e:?}",
                c.method, c.path
            )
        });
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, c.status,
            "{label} #{i} {} {}: {text}",
            c.method, c.path
        );
    }
}

async fn start(services: &[Service]) -> Stack {
    let mut stack = Stack::new();
    for s in services {
        stack.start(*s).await;
    }
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_client_survives_refusals_on_every_listener() {
    let stack = start(&[
        Service::Edge,
        Service::Ingest,
        Service::WebhookOut,
        Service::Dedupe,
    ])
    .await;
    let json = "application/json";

    let edge = refusals_with(
        vec![
            case(
                Method::POST,
                "/api/page-view",
                json,
                b"{not json".to_vec(),
                400,
            ),
            case(Method::POST, "/api/page-view", json, filler(TOO_LARGE), 413),
            case(
                Method::POST,
                "/api/page-view",
                "text/plain",
                filler(LARGE),
                415,
            ),
            // Metrics live on the ops listener only.
            case(Method::GET, "/metrics", json, Vec::new(), 404),
        ],
        "/nope",
        (Method::POST, "/t/resource/x.gif"),
    );
    let valid = || case(Method::POST, "/api/page-view", json, page_view(), 202);
    run("edge", &stack.url(Service::Edge), rounds(edge, valid)).await;

    let ingest = refusals_with(
        vec![
            case(Method::POST, INGEST_ROUTE, json, unsigned_delivery(), 401),
            case(Method::POST, INGEST_ROUTE, json, filler(TOO_LARGE), 413),
            case(Method::GET, "/metrics", json, Vec::new(), 404),
        ],
        "/nope",
        (Method::PUT, INGEST_ROUTE),
    );
    let valid = || {
        let now = chrono::Utc::now().timestamp();
        let d = legacy(SHARED_SECRET, API_KEY, now, now);
        let mut c = case(Method::POST, INGEST_ROUTE, json, d.body, 200);
        c.headers.extend(d.headers);
        c
    };
    run("ingest", &stack.url(Service::Ingest), rounds(ingest, valid)).await;

    let bearer = || ("authorization", format!("Bearer {ADMIN_TOKEN}"));
    let with_auth = |mut c: Case| {
        c.headers.push(bearer());
        c
    };
    let admin = refusals_with(
        vec![
            with_auth(case(
                Method::POST,
                "/v1/webhooks",
                json,
                b"{not json".to_vec(),
                400,
            )),
            with_auth(case(
                Method::POST,
                "/v1/webhooks",
                json,
                filler(TOO_LARGE),
                413,
            )),
            with_auth(case(
                Method::POST,
                "/v1/webhooks",
                "text/plain",
                filler(LARGE),
                415,
            )),
            case(Method::POST, "/v1/webhooks", json, filler(LARGE), 401),
        ],
        "/nope",
        (Method::POST, "/openapi.json"),
    );
    let valid = || with_auth(case(Method::GET, "/v1/webhooks", json, Vec::new(), 200));
    run(
        "admin",
        &stack.url(Service::WebhookOut),
        rounds(admin, valid),
    )
    .await;

    let ops = || refusals_with(Vec::new(), "/nope", (Method::POST, "/healthz"));
    let valid = || case(Method::GET, "/metrics", "text/plain", Vec::new(), 200);
    for (label, service) in [
        ("edge ops", Service::Edge),
        ("ingest ops", Service::Ingest),
        ("dedupe ops", Service::Dedupe),
    ] {
        run(label, &stack.ops_url(service), rounds(ops(), valid)).await;
    }
    stack.cleanup().await;
}

/// Reads one response (headers and a `Content-Length` body) off `stream`.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("an answer within 30 s")
            .expect("read");
        assert!(n > 0, "connection closed; read so far: {text:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_unread_body_is_drained_and_a_large_one_closes() {
    let stack = start(&[Service::Edge]).await;
    let addr = stack
        .url(Service::Edge)
        .trim_start_matches("http://")
        .to_string();

    // The body arrives in two parts, the second after the server could have
    // answered: it must still read it, then serve the next request.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /nope HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&filler(1000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&filler(1000)).await.unwrap();
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 404"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n")
        .await
        .unwrap();
    let second = read_response(&mut s).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    // Ten MiB announced: not worth reading; the answer says so and closes.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /nope HTTP/1.1\r\nhost: edge\r\ncontent-length: 10485760\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&filler(1000)).await.unwrap();
    let answer = read_response(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server closes the connection after the answer"
    );
    stack.cleanup().await;
}
