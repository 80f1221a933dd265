//! The worked example of docs/adding-a-consumer.md, run for real — and a
//! check that the guide quotes the code that is tested here.

#[allow(dead_code)] // its `main` is for `cargo run --example`
#[path = "../../examples/sdr_alerts.rs"]
mod sdr_alerts;

#[allow(dead_code)] // its `main` is for `cargo run --example`
#[path = "../../examples/orders.rs"]
mod orders;

use crate::support::*;
use chrono::{DateTime, Utc};
use hookline_core::event::ContentType;
use hookline_core::{Event, EventData};
use sdr_alerts::{SCHEMA, SdrAlerts};
use std::sync::Arc;

fn in_community(mut event: Event, community: &str) -> Event {
    if let EventData::PageView(view) = &mut event.data {
        view.community = Some(community.into());
    }
    event
}

#[tokio::test]
async fn sdr_alerts_counts_views_of_watched_communities() {
    let stack = Stack::new(|_| {}).await;
    sqlx::raw_sql(SCHEMA).execute(&stack.pool).await.unwrap();
    let running = stack.start(vec![Arc::new(SdrAlerts::new(["finance"]))]);

    let later = timed(page_view(Some("cnt_1"), ContentType::Event, "e1", None), 2);
    let earlier = timed(page_view(Some("cnt_1"), ContentType::News, "n1", None), 1);
    let elsewhere = in_community(
        page_view(Some("cnt_1"), ContentType::News, "n2", None),
        "hr",
    );
    let anonymous = page_view(None, ContentType::News, "n3", None);
    let a_form = form("frm_1", Some("cnt_1"), None, None, &[]);
    for e in [&later, &earlier, &elsewhere, &anonymous, &a_form] {
        stack.publish(e).await;
    }
    stack.publish_as(&later, "a-late-copy").await; // applied once only

    eventually("all six settled", || async {
        stack.backlog("sdr-alerts").await == (0, 0)
    })
    .await;
    type Row = (String, String, String, DateTime<Utc>, DateTime<Utc>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT contact_id, community, first_event_id, first_seen_at, last_seen_at, views \
         FROM sdr_alerts",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let first = earlier.id.to_string();
    assert_eq!(
        rows,
        vec![("cnt_1".into(), "finance".into(), first, at(1), at(2), 2)]
    );
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn orders_keeps_each_order_created_once() {
    let stack = Stack::new(|_| {}).await;
    sqlx::raw_sql(orders::SCHEMA)
        .execute(&stack.pool)
        .await
        .unwrap();
    let running = stack.start(vec![Arc::new(orders::Orders)]);
    let order = other(
        "order.created",
        "evt_order_1",
        serde_json::json!({"orderId": "o1", "customer": {"email": "jo@acme.com"}, "totalCents": 4200}),
    );
    stack.publish_other(&order).await;
    let mut copy = order.clone();
    copy.id = hookline_core::EventId::parse("evt_order_1_resent").unwrap();
    stack.publish_other(&copy).await; // the same order again: one row
    let booking = other(
        "booking.created",
        "evt_booking_1",
        serde_json::json!({"bookingId": "b1"}),
    );
    stack.publish_other(&booking).await;
    stack
        .publish(&page_view(Some("cnt_1"), ContentType::News, "n1", None))
        .await;
    eventually("all four settled", || async {
        stack.backlog("orders").await == (0, 0)
    })
    .await;
    let rows: Vec<(String, Option<String>, i64, String)> =
        sqlx::query_as("SELECT order_id, email, total_cents, event_id FROM orders")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(
            "o1".into(),
            Some("jo@acme.com".into()),
            4200,
            "evt_order_1".into()
        )]
    );
    running.stop().await;
    stack.cleanup().await;
}

/// Every ```rust block of the guide that starts with `// file: <path>`
/// must appear, verbatim, in that file.
#[test]
fn the_guide_quotes_the_tested_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let guide = std::fs::read_to_string(format!("{root}/docs/adding-a-consumer.md"))
        .expect("docs/adding-a-consumer.md exists");
    let mut checked = 0;
    for block in guide.split("```rust\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let Some(path) = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// file: "))
        else {
            continue;
        };
        let body = &block[block.find('\n').map_or(block.len(), |i| i + 1)..];
        let source = std::fs::read_to_string(format!("{root}/{}", path.trim()))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            source.contains(body.trim()),
            "the guide's block from {path} is not in that file any more:\n{body}"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the guide to quote the example, its schema and its test"
    );
}
