//! Content drift across real processes: `content_published` through the
//! edge, dedupe, webhook-out (the rc-legacy config webhook), crm-ingest and
//! event-store, then page views compared with the catalog.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test content_drift`.

use hookline_core::content::checksum;
use hookline_e2e::{Service, Stack};
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const KEY: &str = "e2e-content-api-key-NEVER-LOGGED";

/// A checksum for a version tag (the reference normalisation).
fn sum(version: &str) -> String {
    checksum([("content_id", version), ("title", "t")]).to_string()
}

fn stack() -> Stack {
    let mut stack = Stack::new();
    stack
        .extra_env
        .push(("HOOKLINE__EDGE__CONTENT_API_KEY".into(), KEY.into()));
    stack
}

/// Announces `content_id` at `checksum`; returns the event id.
async fn announce(stack: &Stack, content_id: &str, checksum: &str) -> String {
    let (status, body) = announce_raw(
        stack,
        Some(KEY),
        &json!({"content_type": "resource", "content_id": content_id,
                "slug": format!("resource-{content_id}"), "title": content_id,
                "checksum": checksum}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn announce_raw(stack: &Stack, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = stack
        .http()
        .post(format!(
            "{}/api/content-published",
            stack.url(Service::Edge)
        ))
        .json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.expect("edge answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A page view of `content_id` by `contact` that saw `checksum`.
async fn view(stack: &Stack, content_id: &str, contact: &str, checksum: &str) {
    let (status, body) = stack
        .post_edge(
            "/api/page-view",
            &json!({"content_type": "resource", "content_id": content_id,
                    "slug": format!("resource-{content_id}"), "contact_id": contact,
                    "content_checksum": checksum}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

async fn catalog_sum(pool: &sqlx::PgPool, content_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT checksum FROM content_catalog WHERE content_id = $1")
        .bind(content_id)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn drift_is_recorded_exactly_for_the_changed_content() {
    let mut stack = stack();
    stack.start_all().await;
    let pool = stack.crm_pool().await;
    let (a1, a2, b1) = (sum("a1"), sum("a2"), sum("b1"));

    announce(&stack, "A", &a1).await;
    announce(&stack, "B", &b1).await;
    let views = "SELECT count(*) FROM content_events WHERE event_name = 'page_view'";
    stack
        .wait_count(&pool, "SELECT count(*) FROM content_catalog", 2, LIMIT)
        .await;
    view(&stack, "A", "cnt_1", &a1).await;
    view(&stack, "B", "cnt_1", &b1).await;
    stack.wait_count(&pool, views, 2, LIMIT).await;
    stack.wait_idle(LIMIT).await;
    let drift = "SELECT count(*) FROM content_drift";
    assert_eq!(stack.count(&pool, drift).await, Some(0), "matching views");

    // A changes; two visitors still see the old A, one sees B as announced.
    announce(&stack, "A", &a2).await;
    hookline_e2e::wait_for("A's new checksum in the catalog", LIMIT, || async {
        (catalog_sum(&pool, "A").await.as_deref() == Some(a2.as_str())).then_some(())
    })
    .await;
    view(&stack, "A", "cnt_2", &a1).await;
    view(&stack, "A", "cnt_3", &a1.to_uppercase()).await;
    view(&stack, "B", "cnt_2", &b1).await;
    stack.wait_count(&pool, views, 5, LIMIT).await;
    stack.wait_idle(LIMIT).await;

    let rows: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT content_id, expected, seen, count FROM content_drift")
            .fetch_all(&pool)
            .await
            .expect("content_drift");
    assert_eq!(rows, vec![("A".into(), a2.clone(), a1.clone(), 2)]);
    let drift_total = stack
        .metric(
            Service::Consumer("event-store"),
            "hookline_content_drift_total",
            "content_type=\"resource\"",
        )
        .await;
    assert_eq!(drift_total, 2.0);

    let out = stack.cli(&["drift", "--json"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let listed = out.json();
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let row = &listed[0];
    assert_eq!(row["content_id"], "A");
    assert_eq!(row["expected"], a2.as_str());
    assert_eq!(row["seen"], a1.as_str());
    assert_eq!(row["count"], 2);
    assert_eq!(row["current"], true);
    assert!(!stack.logs().contains(KEY), "the content key was logged");
    stack.cleanup().await;
}

#[tokio::test]
async fn the_route_refuses_bad_tokens_and_bodies_and_dedupe_drops_only_repeats() {
    let mut stack = stack();
    stack.start_all().await;
    let pool = stack.crm_pool().await;
    let good = json!({"content_type": "news", "content_id": "n1", "slug": "s",
                      "title": "T", "checksum": sum("x")});
    for (key, message) in [
        (None, "missing Authorization"),
        (
            Some("not-the-key-at-all"),
            "invalid bearer token for edge.content_api_key",
        ),
    ] {
        let (status, body) = announce_raw(&stack, key, &good).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }
    let mut no_title = good.clone();
    no_title.as_object_mut().unwrap().remove("title");
    let mut short = good.clone();
    short["checksum"] = json!("abc");
    for (body, message) in [
        (no_title, "title required"),
        (short, "checksum must be the SHA-256"),
    ] {
        let (status, answer) = announce_raw(&stack, Some(KEY), &body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().starts_with(message),
            "{answer}"
        );
    }

    // X, X again (a repeat), Y (changed), X (a revert: changed again).
    let (x, y) = (sum("x"), sum("y"));
    let first = announce(&stack, "C", &x).await;
    let repeat = announce(&stack, "C", &x).await;
    let changed = announce(&stack, "C", &y).await;
    let revert = announce(&stack, "C", &x).await;
    stack.wait_idle(LIMIT).await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT event_id FROM content_events WHERE event_name = 'content_published' ORDER BY event_id",
    )
    .fetch_all(&pool)
    .await
    .expect("content_events");
    assert_eq!(stored, vec![first, changed, revert.clone()]);
    assert!(!stored.contains(&repeat));
    let (sum_now, event_now): (String, String) =
        sqlx::query_as("SELECT checksum, event_id FROM content_catalog WHERE content_id = 'C'")
            .fetch_one(&pool)
            .await
            .expect("catalog row");
    assert_eq!((sum_now, event_now), (x, revert));
    let duplicates = stack
        .metric(
            Service::Dedupe,
            "hookline_dedupe_duplicate_total",
            "type=\"content_published\"",
        )
        .await;
    assert_eq!(duplicates, 1.0);
    stack.cleanup().await;
}
