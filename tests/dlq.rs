//! Dead letters end to end: an endpoint or a CRM consumer that fails until
//! fixed, its event in the DLQ, `hookline dlq list` showing who gave up and
//! why, and `hookline dlq redrive` handing it back to that one reader only.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test dlq`.

use hookline_e2e::ops::Receiver;
use hookline_e2e::{Service, Stack, wait_for};
use reqwest::Method;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

async fn stack() -> Stack {
    let mut stack = Stack::new();
    stack.extra_env.extend([
        // Three attempts, then the DLQ.
        (
            "HOOKLINE__WEBHOOK_OUT__RETRY_SCHEDULE".into(),
            "200ms,200ms".into(),
        ),
        ("HOOKLINE__CONSUMERS__MAX_DELIVER".into(), "3".into()),
    ]);
    stack.start_all().await;
    stack
}

/// `hookline dlq list --json` entries of one consumer.
async fn listed(stack: &Stack, consumer: &str) -> Vec<serde_json::Value> {
    let out = stack
        .cli(&["dlq", "list", "--json", "--consumer", consumer])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json().as_array().expect("a list").clone()
}

#[tokio::test]
async fn a_redriven_webhook_dead_letter_reaches_that_webhook_once_and_no_other() {
    let stack = stack().await;
    let failing = Receiver::start(true).await;
    let healthy = Receiver::start(false).await;
    let a = stack.create_webhook(&failing.url()).await;
    let b = stack.create_webhook(&healthy.url()).await;
    let event = stack.page_view("c-dlq", "cnt_dlq").await;

    let entries = wait_for("the dead letter of the failing webhook", LIMIT, || async {
        let e = listed(&stack, &a).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["webhook"], a.as_str());
    assert_eq!(entry["consumer"], a.as_str());
    assert_eq!(entry["event_id"], event.as_str());
    assert_eq!(entry["attempts"], 3);
    assert!(
        entry["error"].as_str().is_some_and(|e| e.contains("500")),
        "{entry}"
    );
    assert_eq!(healthy.accepted(&event), 1);
    // The admin API lists the same entry.
    let (status, api) = stack
        .admin(Method::GET, &format!("/v1/dlq?consumer={a}"), None)
        .await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["data"][0]["id"], entry["id"]);

    // A dry run changes nothing.
    let dry = stack
        .cli(&["dlq", "redrive", "--consumer", &a, "--dry-run", "--json"])
        .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.json()[0]["status"], "would_redrive");
    assert_eq!(listed(&stack, &a).await.len(), 1);

    failing.fix();
    let out = stack
        .cli(&["dlq", "redrive", "--consumer", &a, "--json"])
        .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()[0]["status"], "redriven");
    wait_for("the redriven delivery", LIMIT, || async {
        (failing.accepted(&event) >= 1).then_some(())
    })
    .await;
    stack.wait_idle(LIMIT).await;
    assert_eq!(failing.accepted(&event), 1, "delivered exactly once");
    assert_eq!(failing.total(), 1);
    assert_eq!(
        healthy.accepted(&event),
        1,
        "the other webhook got nothing more"
    );
    assert_eq!(healthy.total(), 1);
    assert!(
        listed(&stack, &a).await.is_empty(),
        "the entry left the DLQ"
    );
    assert!(listed(&stack, &b).await.is_empty());

    // Resend: one event to one webhook, now.
    let out = stack.cli(&["webhooks", "resend", &b, &event]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(healthy.accepted(&event), 2);
    assert_eq!(failing.accepted(&event), 1);
    stack.cleanup().await;
}

#[tokio::test]
async fn a_redriven_consumer_dead_letter_is_applied_once_by_that_consumer_only() {
    let stack = stack().await;
    let crm = stack.crm_pool().await;
    // event-store fails until its table is back; engagement-score is fine.
    sqlx::query("ALTER TABLE content_events RENAME TO content_events_away")
        .execute(&crm)
        .await
        .expect("table renamed");
    let event = stack.page_view("c-crm", "cnt_crm").await;

    let entries = wait_for("the event-store dead letter", LIMIT, || async {
        let e = listed(&stack, "event-store").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["stream"], "crm");
    assert_eq!(entries[0]["event_id"], event.as_str());
    assert!(entries[0]["error"].as_str().is_some(), "{entries:?}");
    let processed = format!(
        "SELECT count(*) FROM processed_events WHERE event_id = '{event}' AND consumer = 'engagement-score'"
    );
    stack.wait_count(&crm, &processed, 1, LIMIT).await;
    let score = Service::Consumer("engagement-score");
    let duplicates = "hookline_consumer_duplicates_total";
    let before = stack.metric(score, duplicates, "engagement-score").await;

    sqlx::query("ALTER TABLE content_events_away RENAME TO content_events")
        .execute(&crm)
        .await
        .expect("table back");
    let out = stack
        .cli(&["dlq", "redrive", "--consumer", "event-store"])
        .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let stored = format!("SELECT count(*) FROM content_events WHERE event_id = '{event}'");
    stack.wait_count(&crm, &stored, 1, LIMIT).await;
    stack.wait_idle(LIMIT).await;
    assert_eq!(stack.count(&crm, &stored).await, Some(1));
    assert_eq!(stack.count(&crm, &processed).await, Some(1));
    assert_eq!(
        stack.metric(score, duplicates, "engagement-score").await,
        before,
        "engagement-score never saw the redriven copy"
    );
    assert!(listed(&stack, "event-store").await.is_empty());
    // Redriving it again is a no-op: the entry is gone.
    let again = stack
        .cli(&["dlq", "redrive", "--consumer", "event-store"])
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    stack.cleanup().await;
}
