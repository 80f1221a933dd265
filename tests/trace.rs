//! `hookline trace` of a unique event, a duplicate, a bot view and a
//! dead-lettered event, each across real processes; and a trace that can
//! only see one side.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test trace`.

use hookline_e2e::Stack;
use hookline_e2e::ops::Receiver;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

async fn trace(stack: &Stack, id: &str) -> Value {
    let out = stack.cli(&["trace", id, "--json"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    out.json()
}

/// Traces `id` until `done` holds for it (panics with the last trace).
async fn trace_until(stack: &Stack, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let t = trace(stack, id).await;
        if done(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last trace: {t:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn all_processed(t: &Value) -> bool {
    let consumers = t["crm"]["consumers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    consumers.len() == 3 && consumers.iter().all(|c| c["processed_at"].is_string())
}

#[tokio::test]
async fn traces_show_each_stage_of_unique_duplicate_bot_and_dead_events() {
    let mut stack = Stack::new();
    stack.extra_env.push((
        "HOOKLINE__WEBHOOK_OUT__RETRY_SCHEDULE".into(),
        "200ms,200ms".into(),
    ));
    stack.start_all().await;

    let unique = unique_event(&stack).await;
    duplicate_event(&stack, &unique).await;
    // A crawler.
    let bot = stack
        .page_view_as(
            "c-bot",
            "cnt_bot",
            "Mozilla/5.0 (compatible; Googlebot/2.1)",
        )
        .await;
    let t = trace(&stack, &bot).await;
    assert_eq!(t["dedupe"]["verdict"], "bot", "{t}");
    assert!(t["rc_events"].is_null());

    dead_event(&stack).await;
    // Only the RC side reachable: the CRM half is named as unseen.
    let out = stack
        .cli_with(
            &["trace", &unique, "--json"],
            &[(
                "HOOKLINE__CRM__DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/none",
            )],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let t = out.json();
    assert_eq!(t["dedupe"]["verdict"], "unique");
    let blind = t["blind_spots"].to_string();
    assert!(blind.contains("cannot see the CRM side"), "{blind}");
    stack.cleanup().await;
}

/// A unique event: every hop, down to each consumer; returns its id.
async fn unique_event(stack: &Stack) -> String {
    // Unique: every hop, down to each consumer.
    let unique = stack.page_view("c-trace", "cnt_trace").await;
    let t = trace_until(stack, &unique, "the unique event everywhere", all_processed).await;
    assert_eq!(t["id"], unique.as_str());
    assert_eq!(t["type"], "page_view");
    assert!(t["edge"]["seq"].as_u64().is_some(), "{t}");
    assert_eq!(t["dedupe"]["verdict"], "unique");
    assert!(t["rc_events"]["seq"].as_u64().is_some(), "{t}");
    let deliveries = t["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1, "the config webhook: {t}");
    assert_eq!(deliveries[0]["status"], "delivered");
    assert!(
        deliveries[0]["webhook"]
            .as_str()
            .unwrap()
            .starts_with("wh_")
    );
    assert_eq!(deliveries[0]["attempts"][0]["success"], true);
    assert!(t["crm"]["ingested"]["seq"].as_u64().is_some(), "{t}");
    let names: Vec<&str> = t["crm"]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["automation", "engagement-score", "event-store"]);
    assert_eq!(t["dead_letters"], Value::Array(vec![]));
    assert_eq!(t["blind_spots"], Value::Array(vec![]));
    // The admin API answers the same.
    let (status, api) = stack
        .admin(Method::GET, &format!("/v1/events/{unique}"), None)
        .await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["dedupe"]["verdict"], "unique");
    assert_eq!(api["crm"]["ingested"]["seq"], t["crm"]["ingested"]["seq"]);

    unique
}

/// A duplicate of `unique`: stopped by dedupe, naming the event it repeats.
async fn duplicate_event(stack: &Stack, unique: &str) {
    // A duplicate: stopped by dedupe, naming the event it duplicates.
    let dup = stack.page_view("c-trace", "cnt_trace").await;
    let t = trace_until(stack, &dup, "the duplicate verdict", |t| {
        t["dedupe"]["verdict"] == "duplicate"
    })
    .await;
    assert_eq!(t["dedupe"]["duplicate_of"], unique);
    assert!(t["edge"]["seq"].as_u64().is_some());
    assert!(t["rc_events"].is_null());
    assert_eq!(t["deliveries"], Value::Array(vec![]));
    assert!(t["crm"]["ingested"].is_null());
    assert!(
        t["crm"]["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["processed_at"].is_null())
    );
}

/// An event dead-lettered at a webhook whose endpoint always fails.
async fn dead_event(stack: &Stack) {
    // Dead-lettered at a webhook whose endpoint always fails.
    let failing = Receiver::start(true).await;
    let wh = stack.create_webhook(&failing.url()).await;
    let dead = stack.page_view("c-dead", "cnt_dead").await;
    let t = trace_until(stack, &dead, "the dead letter", |t| {
        !t["dead_letters"].as_array().unwrap().is_empty() && all_processed(t)
    })
    .await;
    let d = t["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["webhook"] == wh.as_str())
        .cloned()
        .expect("the failing webhook's deliveries");
    assert_eq!(d["status"], "dead");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(d["attempts"][2]["status_code"], 500);
    assert_eq!(t["dead_letters"][0]["webhook"], wh.as_str());
    assert_eq!(t["dead_letters"][0]["event_id"], dead.as_str());
}
