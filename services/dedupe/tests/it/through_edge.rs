//! The whole RC side: HTTP into rc-edge, dedupe, unique events on RC_EVENTS.

use crate::support::Stack;
use futures::StreamExt;
use hookline_core::{Shutdown, testing};
use serde_json::json;
use std::time::{Duration, Instant};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

struct Edge {
    base: String,
    http: reqwest::Client,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), rc_edge::Error>>,
}

async fn start_edge(stack: &Stack) -> Edge {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(rc_edge::run_with_listener(
        stack.config.clone(),
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(http.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "edge never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Edge {
        base,
        http,
        shutdown,
        task,
    }
}

impl Edge {
    async fn view(&self, body: serde_json::Value, ua: &str) {
        let r = self
            .http
            .post(format!("{}/api/page-view", self.base))
            .header("user-agent", ua)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

fn config() -> hookline_core::Config {
    let mut config = testing::isolated_config();
    config.edge.fingerprint_secret = Some("shared-by-replicas".into());
    config
}

#[tokio::test]
async fn a_thousand_views_of_a_hundred_pairs_make_a_hundred_events() {
    let mut stack = Stack::start(config()).await;
    stack.spawn_worker();
    let edge = start_edge(&stack).await;
    // 10 contents × 10 visitors (5 known contacts, 5 anonymous browsers),
    // each pair viewed 10 times, 32 requests in flight.
    let requests = (0..1000).map(|i| {
        let content = i % 10;
        let visitor = (i / 10) % 10;
        let mut body =
            json!({"content_type": "event", "content_id": format!("e{content}"), "slug": "s"});
        if visitor < 5 {
            body["contact_id"] = json!(format!("cnt_{visitor}"));
        }
        (body, format!("{UA} visitor/{visitor}"))
    });
    futures::stream::iter(requests)
        .for_each_concurrent(32, |(body, ua)| {
            let edge = &edge;
            async move { edge.view(body, &ua).await }
        })
        .await;
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 100);
    edge.stop().await;
    stack.stop().await;
}

#[tokio::test]
async fn anonymous_visitors_dedupe_by_fingerprint_gdpr_visitors_are_not_fingerprinted() {
    let mut stack = Stack::start(config()).await;
    stack.spawn_worker();
    let edge = start_edge(&stack).await;
    let body = json!({"content_type": "news", "content_id": "n1", "slug": "s"});
    for _ in 0..3 {
        edge.view(body.clone(), UA).await;
    }
    // Another browser on the same IP is another visitor.
    edge.view(body.clone(), "Mozilla/5.0 (Macintosh) Safari/605")
        .await;
    // GDPR without contact id: nothing identifies them, every view counts.
    let mut gdpr = body.clone();
    gdpr["gdpr"] = json!(true);
    for _ in 0..3 {
        edge.view(gdpr.clone(), UA).await;
    }
    // GDPR with a contact id: deduped by the contact.
    gdpr["contact_id"] = json!("cnt_1");
    for _ in 0..3 {
        edge.view(gdpr.clone(), UA).await;
    }
    // Crawlers: dropped.
    edge.view(
        body.clone(),
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    )
    .await;
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 2 + 3 + 1);
    edge.stop().await;
    stack.stop().await;
}
