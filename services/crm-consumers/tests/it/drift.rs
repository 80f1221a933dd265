//! event-store's content catalog and drift, on the real runner and Postgres:
//! newest announcement wins whatever the arrival order, a drifting view
//! counts once however often it is delivered, and views older than the
//! catalog's version are not judged by it.

use crate::support::*;
use crm_consumers::drift;
use crm_consumers::event_store::EventStore;
use hookline_core::content::{Checksum, ContentPublished};
use hookline_core::event::ContentType::Resource;
use hookline_core::{Event, EventData, EventId};
use std::sync::Arc;

fn sum(c: char) -> String {
    c.to_string().repeat(64)
}

fn announce(content_id: &str, checksum: &str, minute: i64) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at(minute),
        data: EventData::ContentPublished(ContentPublished {
            content_type: Resource,
            content_id: content_id.into(),
            slug: format!("{content_id}-slug"),
            title: format!("{content_id} at {minute}"),
            checksum: Checksum::parse(checksum).unwrap(),
        }),
    }
}

fn seen(content_id: &str, checksum: &str, minute: i64) -> Event {
    let mut view = timed(page_view(Some("cnt"), Resource, content_id, None), minute);
    if let EventData::PageView(p) = &mut view.data {
        p.content_checksum = Some(checksum.into());
    }
    view
}

async fn catalog(stack: &Stack, content_id: &str) -> (String, String) {
    sqlx::query_as("SELECT checksum, title FROM content_catalog WHERE content_id = $1")
        .bind(content_id)
        .fetch_one(&stack.pool)
        .await
        .expect("catalog row")
}

async fn drift_rows(stack: &Stack) -> Vec<(String, String, String, i64)> {
    sqlx::query_as(
        "SELECT content_id, expected, seen, count FROM content_drift ORDER BY content_id, seen",
    )
    .fetch_all(&stack.pool)
    .await
    .expect("drift rows")
}

#[tokio::test]
async fn a_late_older_announcement_never_replaces_a_newer_checksum() {
    let stack = Stack::new(|_| {}).await;
    let running = stack.start(vec![Arc::new(EventStore::new())]);
    let newer = announce("r1", &sum('b'), 10);
    let older = announce("r1", &sum('a'), 5);
    stack.publish(&newer).await;
    stack.publish(&older).await;
    eventually("both announcements stored", || async {
        stack
            .count("SELECT count(*) FROM content_events WHERE event_name = 'content_published'")
            .await
            == 2
    })
    .await;
    assert_eq!(catalog(&stack, "r1").await, (sum('b'), "r1 at 10".into()));
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn a_drifting_view_counts_once_per_event_and_older_views_are_not_judged() {
    let stack = Stack::new(|_| {}).await;
    let running = stack.start(vec![Arc::new(EventStore::new())]);
    stack.publish(&announce("r1", &sum('b'), 10)).await;
    stack.publish(&announce("r2", &sum('c'), 10)).await;
    let drifting = seen("r1", &sum('a'), 12);
    let events = [
        drifting.clone(),
        seen("r1", &sum('A'), 13), // the same old version, another event
        seen("r1", &sum('a'), 9),  // before the announcement: not judged
        seen("r1", &sum('b'), 14), // the current version
        seen("r2", &sum('c'), 14), // another item, matching
        seen("r9", &sum('z'), 14), // an item nobody announced
    ];
    for e in &events {
        stack.publish(e).await;
    }
    // The drifting view again, after the duplicate window (another msg id).
    stack.publish_as(&drifting, "redelivered-copy").await;
    eventually("every event processed", || async {
        stack.backlog("event-store").await == (0, 0)
            && stack.count("SELECT count(*) FROM content_events").await == 8
    })
    .await;
    assert_eq!(
        drift_rows(&stack).await,
        vec![("r1".into(), sum('b'), sum('a'), 2)]
    );

    // The SQL path alone is idempotent by event id too (no processed_events).
    let mut tx = stack.pool.begin().await.unwrap();
    assert_eq!(drift::drift(&mut tx, &[&drifting]).await.unwrap(), 0);
    tx.commit().await.unwrap();
    assert_eq!(drift_rows(&stack).await[0].3, 2);
    let listed = drift::list(&stack.pool, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].slug.as_deref(), listed[0].current),
        (Some("r1-slug"), true)
    );
    running.stop().await;
    stack.cleanup().await;
}
