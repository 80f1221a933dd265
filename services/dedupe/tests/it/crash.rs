//! Crash safety: whatever state a crash leaves behind, each event reaches
//! RC_EVENTS exactly once.

use crate::support::{Stack, ids, view};
use dedupe::key::{Class, classify};
use hookline_core::event::EventType;
use hookline_core::nats;
use hookline_core::publish::{Outgoing, publish};
use hookline_core::testing;

#[tokio::test]
async fn events_left_half_done_by_a_crash_are_forwarded_exactly_once() {
    let mut stack = Stack::start(testing::isolated_config()).await;
    let kv = nats::dedupe_bucket(&stack.nats, &stack.config, EventType::PageView)
        .await
        .unwrap();
    let key = |raw: &hookline_core::event::RawEvent| match classify(raw) {
        Class::Keyed(k) => k.current,
        other => panic!("{other:?}"),
    };

    // Stopped between the KV create and the publish: the key holds the id.
    let x = view("c1", Some("cnt_x"), None);
    kv.create(key(&x), x.event.id.as_str().to_string().into())
        .await
        .unwrap();
    // Stopped between the publish and the ack: also already on RC_EVENTS.
    let y = view("c2", Some("cnt_y"), None);
    kv.create(key(&y), y.event.id.as_str().to_string().into())
        .await
        .unwrap();
    publish(
        &stack.nats.js,
        &Outgoing::new(
            stack.nats.names.rc_event_subject(EventType::PageView),
            y.event.id.as_str(),
            serde_json::to_vec(&y.event).unwrap().into(),
        ),
    )
    .await
    .unwrap();
    // Delivered twice (a redelivery after an unacknowledged first try).
    let w = view("c3", Some("cnt_w"), None);
    // A genuine duplicate of x, by another event.
    let x2 = view("c1", Some("cnt_x"), None);

    stack.publish(&[x.clone(), y.clone(), w.clone()]).await;
    stack.publish_again(&w, "redelivered-copy").await;
    stack.publish(&[x2]).await;
    stack.spawn_worker();
    stack.settle().await;

    let mut got = ids(&stack.forwarded().await);
    got.sort();
    let mut want = vec![x.event.id, y.event.id, w.event.id];
    want.sort();
    assert_eq!(got, want);
    stack.stop().await;
}

#[tokio::test]
async fn a_stopped_instance_leaves_the_rest_to_the_next() {
    let mut stack = Stack::start(testing::isolated_config()).await;
    stack.spawn_worker();
    let first: Vec<_> = (0..50)
        .map(|i| view(&format!("c{i}"), Some("cnt"), None))
        .collect();
    stack.publish(&first).await;
    stack.settle().await;
    // Stop it and start another: state is only in NATS.
    stack.stop_workers().await;
    let again: Vec<_> = (0..50)
        .map(|i| view(&format!("c{i}"), Some("cnt"), None))
        .collect();
    let new: Vec<_> = (50..60)
        .map(|i| view(&format!("c{i}"), Some("cnt"), None))
        .collect();
    stack.publish(&again).await;
    stack.publish(&new).await;
    stack.spawn_worker();
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 60);
    stack.stop().await;
}
