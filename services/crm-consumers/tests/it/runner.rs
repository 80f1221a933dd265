//! The runner's guarantees, checked with the [`Recorder`] test consumer.

use crate::recorder::Recorder;
use crate::support::*;
use crm_consumers::runner::Consumer;
use hookline_core::dlq::{
    ATTEMPTS as HEADER_DELIVERIES, CONSUMER, ERROR as HEADER_ERROR, EVENT_ID as HEADER_EVENT_ID,
};
use hookline_core::event::ContentType;
use hookline_core::{Event, EventType};
use std::collections::HashSet;
use std::sync::Arc;

fn ids(events: &[&Event]) -> HashSet<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

async fn effects_table(stack: &Stack) {
    sqlx::query("CREATE TABLE effects (event_id TEXT NOT NULL)")
        .execute(&stack.pool)
        .await
        .unwrap();
}

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            page_view(
                Some(&format!("cnt_{i}")),
                ContentType::News,
                &format!("n{i}"),
                None,
            )
        })
        .collect()
}

/// Every published event applied exactly once, and nothing left unacked.
async fn assert_each_once(stack: &Stack, name: &str, expected: &HashSet<String>) {
    let want = expected.len() as i64;
    eventually("every event applied", || async {
        stack
            .count("SELECT count(DISTINCT event_id) FROM effects")
            .await
            == want
    })
    .await;
    eventually("every message settled", || async {
        stack.backlog(name).await == (0, 0)
    })
    .await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT event_id, count(*) FROM effects GROUP BY event_id")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    for (id, n) in &rows {
        assert_eq!(*n, 1, "event {id} applied {n} times");
    }
    let got: HashSet<String> = rows.into_iter().map(|(id, _)| id).collect();
    assert_eq!(&got, expected);
}

#[tokio::test]
async fn a_failure_after_writing_rolls_back_and_the_redelivery_applies_once() {
    let stack = Stack::new(|_| {}).await;
    effects_table(&stack).await;
    let evs = events(6);
    let consumer = Recorder::new("rt-fail-once");
    consumer
        .fail
        .lock()
        .unwrap()
        .insert(evs[2].id.to_string(), 2);
    consumer
        .panic
        .lock()
        .unwrap()
        .insert(evs[4].id.to_string(), 2);
    let consumer = Arc::new(consumer);
    let running = stack.start(vec![consumer.clone()]);
    for e in &evs {
        stack.publish(e).await;
    }
    assert_each_once(
        &stack,
        "rt-fail-once",
        &ids(&evs.iter().collect::<Vec<_>>()),
    )
    .await;
    // Each failed on both attempts of its first delivery, so the effect
    // above came from a redelivery.
    assert_eq!(consumer.fail.lock().unwrap()[evs[2].id.as_str()], 0);
    assert_eq!(consumer.panic.lock().unwrap()[evs[4].id.as_str()], 0);
    assert_eq!(
        stack.count("SELECT count(*) FROM processed_events").await,
        6
    );
    assert!(stack.dead_letters().await.is_empty());
    assert_eq!(
        metric("hookline_consumer_failed_total", "rt-fail-once"),
        4.0
    );
    assert_eq!(
        metric("hookline_consumer_processed_total", "rt-fail-once"),
        6.0
    );
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_after_max_deliver_while_the_rest_flow() {
    let stack = Stack::new(|_| {}).await;
    effects_table(&stack).await;
    let evs = events(12);
    let (poison, rejected) = (&evs[3], &evs[7]);
    let mut consumer = Recorder::new("rt-poison");
    consumer.poison.insert(poison.id.to_string());
    consumer.reject.insert(rejected.id.to_string());
    let running = stack.start(vec![Arc::new(consumer)]);
    for e in &evs {
        stack.publish(e).await;
    }
    // Not an envelope at all: dead-lettered on its first delivery.
    stack
        .publish_raw(EventType::PageView, "{not json".into(), "garbage-1")
        .await;

    let good: Vec<&Event> = evs
        .iter()
        .filter(|e| e.id != poison.id && e.id != rejected.id)
        .collect();
    eventually("three dead letters", || async {
        stack.dead_letters().await.len() == 3
    })
    .await;
    eventually("the good events applied", || async {
        stack
            .count("SELECT count(DISTINCT event_id) FROM effects")
            .await
            == good.len() as i64
    })
    .await;
    eventually("every message settled", || async {
        stack.backlog("rt-poison").await == (0, 0)
    })
    .await;

    let letters = stack.dead_letters().await;
    let subject = stack.nats.names.crm_dlq_subject("rt-poison");
    let find = |id: &str| {
        letters
            .iter()
            .find(|m| {
                m.headers
                    .get(HEADER_EVENT_ID)
                    .is_some_and(|v| v.as_str() == id)
            })
            .unwrap_or_else(|| panic!("{id} dead-lettered"))
    };
    let p = find(poison.id.as_str());
    assert_eq!(p.subject.as_str(), subject);
    assert_eq!(p.headers.get(HEADER_DELIVERIES).unwrap().as_str(), "3");
    assert!(
        p.headers
            .get(HEADER_ERROR)
            .unwrap()
            .as_str()
            .contains("poison")
    );
    assert_eq!(
        p.headers.get("Nats-Msg-Id").unwrap().as_str(),
        format!(
            "rt-poison:{}:{}",
            poison.id,
            p.headers.get(hookline_core::dlq::SOURCE_SEQUENCE).unwrap()
        )
    );
    assert_eq!(p.headers.get(CONSUMER).unwrap().as_str(), "rt-poison");
    let body: Event = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(&body, poison, "the dead letter carries the original event");
    let r = find(rejected.id.as_str());
    assert_eq!(r.headers.get(HEADER_DELIVERIES).unwrap().as_str(), "1");
    let garbage = letters
        .iter()
        .find(|m| m.headers.get(HEADER_EVENT_ID).is_none())
        .expect("the unparseable message is dead-lettered");
    assert_eq!(
        garbage.headers.get(HEADER_DELIVERIES).unwrap().as_str(),
        "1"
    );
    assert_eq!(&garbage.payload[..], b"{not json");

    // The failed events left nothing behind.
    let leftovers = stack
        .count(&format!(
            "SELECT count(*) FROM effects WHERE event_id IN ('{}', '{}')",
            poison.id, rejected.id
        ))
        .await;
    assert_eq!(leftovers, 0);
    assert_eq!(
        stack.count("SELECT count(*) FROM processed_events").await,
        good.len() as i64
    );
    assert_eq!(
        metric("hookline_consumer_dead_lettered_total", "rt-poison"),
        3.0
    );
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn two_instances_of_one_consumer_apply_each_event_once() {
    let stack = Stack::new(|c| c.consumers.batch_size = 20).await;
    effects_table(&stack).await;
    let evs = events(300);
    let consumer: Arc<dyn Consumer> = Arc::new(Recorder::new("rt-twins"));
    let a = stack.start(vec![consumer.clone()]);
    let b = stack.start(vec![consumer.clone()]);
    for (i, e) in evs.iter().enumerate() {
        stack.publish(e).await;
        // Every tenth event also arrives again under another message id, so
        // the two instances race for the same event id.
        if i % 10 == 0 {
            stack.publish_as(e, &format!("again-{}", e.id)).await;
        }
    }
    assert_each_once(&stack, "rt-twins", &ids(&evs.iter().collect::<Vec<_>>())).await;
    assert_eq!(
        metric("hookline_consumer_duplicates_total", "rt-twins"),
        30.0
    );
    a.stop().await;
    b.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn the_same_event_under_two_message_ids_applies_once() {
    let stack = Stack::new(|_| {}).await;
    effects_table(&stack).await;
    let evs = events(2);
    let running = stack.start(vec![Arc::new(Recorder::new("rt-copies"))]);
    // Both copies before the consumer sees either (likely one batch) …
    stack.publish(&evs[0]).await;
    stack.publish_as(&evs[0], "copy-of-0").await;
    // … and a copy long after the first was applied (a later batch).
    stack.publish(&evs[1]).await;
    eventually("second event applied", || async {
        stack.count("SELECT count(*) FROM effects").await == 2
    })
    .await;
    stack.publish_as(&evs[1], "copy-of-1").await;
    eventually("all four messages settled", || async {
        stack.backlog("rt-copies").await == (0, 0)
            && metric("hookline_consumer_duplicates_total", "rt-copies") == 2.0
    })
    .await;
    assert_each_once(&stack, "rt-copies", &ids(&evs.iter().collect::<Vec<_>>())).await;
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn losing_the_database_connection_holds_the_batch_and_loses_nothing() {
    let stack = Stack::new(|_| {}).await;
    effects_table(&stack).await;
    let evs = events(5);
    let consumer = Recorder::new("rt-db-lost");
    consumer
        .disconnect_once
        .lock()
        .unwrap()
        .insert(evs[1].id.to_string());
    let consumer = Arc::new(consumer);
    let running = stack.start(vec![consumer.clone()]);
    for e in &evs {
        stack.publish(e).await;
    }
    assert_each_once(&stack, "rt-db-lost", &ids(&evs.iter().collect::<Vec<_>>())).await;
    assert!(consumer.disconnect_once.lock().unwrap().is_empty());
    // An outage is not the event's fault: no failure counted, no dead letter.
    assert_eq!(metric("hookline_consumer_failed_total", "rt-db-lost"), 0.0);
    assert!(metric("hookline_consumer_batch_errors_total", "rt-db-lost") >= 1.0);
    assert!(stack.dead_letters().await.is_empty());
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn unwanted_types_are_skipped_and_shutdown_drains() {
    let stack = Stack::new(|_| {}).await;
    effects_table(&stack).await;
    let mut consumer = Recorder::new("rt-forms-only");
    consumer.types = vec![EventType::FormSubmission];
    let running = stack.start(vec![Arc::new(consumer)]);
    let view = page_view(Some("cnt_1"), ContentType::Event, "e1", None);
    let f = form("frm_1", Some("cnt_1"), None, None, &[]);
    stack.publish(&view).await;
    stack.publish(&f).await;
    eventually("both settled", || async {
        stack.backlog("rt-forms-only").await == (0, 0)
            && metric("hookline_consumer_skipped_total", "rt-forms-only") == 1.0
    })
    .await;
    assert_each_once(&stack, "rt-forms-only", &ids(&[&f])).await;
    running.stop().await;
    stack.cleanup().await;
}

#[tokio::test]
async fn bad_consumer_names_are_refused() {
    let stack = Stack::new(|_| {}).await;
    let err = stack
        .start(vec![Arc::new(Recorder::new("has.dot"))])
        .join()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has.dot"), "{err}");
    let err = stack
        .start(vec![
            Arc::new(Recorder::new("twin")),
            Arc::new(Recorder::new("twin")),
        ])
        .join()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("twin"), "{err}");
    stack.cleanup().await;
}
