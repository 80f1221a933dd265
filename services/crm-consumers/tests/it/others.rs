//! Events of types hookline does not model, through the registered
//! consumers: the event store keeps each once, as received; score and
//! automation skip them.

use crate::support::*;
use hookline_core::OtherEvent;
use serde_json::{Value, json};

#[tokio::test]
async fn other_events_are_stored_once_and_ignored_by_score_and_automation() {
    let stack = Stack::new(crate::consumers::configure).await;
    let running = stack.start(crm_consumers::registered(&stack.config));
    let order = other(
        "order.created",
        "evt_order_1",
        json!({"orderId": "o1", "customer": {"email": "jo@acme.com"}, "totalCents": 4200}),
    );
    let page = other("page.published", "evt_page_1", json!({"pageId": "p1"}));
    stack.publish_other(&order).await;
    stack.publish_other(&page).await;
    // A late copy of the order (after the duplicate window): applied once.
    let subject = stack.nats.names.crm_other_subject(&order.kind);
    let body = serde_json::to_vec(&order).unwrap();
    hookline_core::publish::publish(
        &stack.nats.js,
        &hookline_core::publish::Outgoing::new(subject, "a-late-copy", body.into()),
    )
    .await
    .unwrap();
    for consumer in ["event-store", "engagement-score", "automation"] {
        eventually(&format!("{consumer} settled"), || async {
            stack.backlog(consumer).await == (0, 0)
        })
        .await;
    }
    type Row = (String, String, String, Value);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT id, type, source, payload FROM other_events ORDER BY id")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    let row = |o: &OtherEvent| {
        (
            o.id.to_string(),
            o.kind.clone(),
            o.source.clone(),
            Value::Object(o.payload.clone()),
        )
    };
    assert_eq!(rows, vec![row(&order), row(&page)]);
    let pool = &stack.pool;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM content_events").await, 0);
    assert_eq!(count("SELECT count(*) FROM engagement_scores").await, 0);
    assert_eq!(count("SELECT count(*) FROM automation_tasks").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM processed_events WHERE consumer <> 'event-store'").await,
        0,
        "score and automation skip other types without touching Postgres"
    );
    assert!(stack.dead_letters().await.is_empty());
    running.stop().await;
    stack.cleanup().await;
}
