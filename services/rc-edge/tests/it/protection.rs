//! Rate limit (429 JSON) and CORS.

use crate::support::{Edge, config};
use serde_json::{Value, json};

#[tokio::test]
async fn over_the_rate_limit_is_429_json_per_client() {
    let mut cfg = config();
    cfg.edge.rate_limit_per_second = 1;
    cfg.edge.rate_limit_burst = 2;
    cfg.edge.trusted_proxies = vec!["127.0.0.1".into()];
    let edge = Edge::start(cfg).await;
    let body = json!({"content_type": "event", "content_id": "c", "slug": "s"});
    let send = |client: &'static str| {
        edge.http
            .post(edge.url("/api/page-view"))
            .header("x-forwarded-for", client)
            .json(&body)
            .send()
    };
    let mut limited = None;
    for _ in 0..10 {
        let r = send("198.51.100.1").await.unwrap();
        if r.status() == 429 {
            limited = Some((
                r.headers().contains_key("retry-after"),
                r.json::<Value>().await.unwrap(),
            ));
            break;
        }
        assert_eq!(r.status(), 202);
    }
    let (retry_after, body) = limited.expect("10 requests at a 2-burst limit hit 429");
    assert!(retry_after);
    assert_eq!(body["status"], "error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("rate limit exceeded; retry in "),
        "{body}"
    );
    // Another client behind the same proxy has its own bucket.
    assert_eq!(send("198.51.100.2").await.unwrap().status(), 202);
    // Ops endpoints are never limited.
    for _ in 0..5 {
        assert_eq!(
            edge.http
                .get(edge.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    edge.stop().await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let mut cfg = config();
    cfg.edge.cors_origins = vec!["https://rc.example".into()];
    let edge = Edge::start(cfg).await;
    let preflight = |origin: &'static str| {
        edge.http
            .request(reqwest::Method::OPTIONS, edge.url("/api/page-view"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://rc.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://rc.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // Simple requests get the header on the answer too (errors included).
    let r = edge
        .http
        .post(edge.url("/api/page-view"))
        .header("origin", "https://rc.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://rc.example"
    );
    edge.stop().await;
}
