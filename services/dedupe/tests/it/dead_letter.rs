//! A raw message dedupe can never read goes to `rc.dlq.dedupe` in the
//! shared dead-letter format, and the good events around it flow on.

use crate::support::{Stack, view};
use hookline_core::dlq;
use hookline_core::names::{RC_DLQ, RC_RAW};
use hookline_core::publish::{Outgoing, publish};
use hookline_core::testing;

#[tokio::test]
async fn an_unreadable_raw_event_is_dead_lettered_with_the_shared_headers() {
    let mut stack = Stack::start(testing::isolated_config()).await;
    stack.spawn_worker();
    let names = stack.config.names();
    let garbage = Outgoing::new(
        names.subject("rc.raw.page_view"),
        "garbage-1",
        bytes::Bytes::from_static(b"{not json"),
    );
    publish(&stack.nats.js, &garbage).await.unwrap();
    stack.publish(&[view("c1", Some("cnt_1"), None)]).await;
    stack.settle().await;
    assert_eq!(stack.forwarded_count().await, 1, "the good event flowed");

    let dlq_stream = stack
        .nats
        .js
        .get_stream(names.stream(RC_DLQ))
        .await
        .unwrap();
    let msg = dlq_stream
        .get_last_raw_message_by_subject(&names.rc_dlq_subject(dlq::DEDUPE_CONSUMER))
        .await
        .expect("the dead letter");
    assert_eq!(&msg.payload[..], b"{not json", "the payload is kept as is");
    let h = |n: &str| msg.headers.get(n).map(|v| v.as_str().to_string());
    assert_eq!(h(dlq::CONSUMER).as_deref(), Some("dedupe"));
    assert_eq!(h(dlq::ATTEMPTS).as_deref(), Some("1"));
    assert_eq!(h(dlq::SOURCE_STREAM), Some(names.stream(RC_RAW)));
    assert_eq!(
        h(dlq::SOURCE_SUBJECT),
        Some(names.subject("rc.raw.page_view"))
    );
    assert_eq!(h(dlq::SOURCE_SEQUENCE).as_deref(), Some("1"));
    assert_eq!(h(dlq::ORIGINAL_MSG_ID).as_deref(), Some("garbage-1"));
    assert!(h(dlq::ERROR).is_some_and(|e| e.starts_with("not a raw event")));
    assert!(h(dlq::FIRST_FAILED_AT).is_some());
    assert!(h(dlq::FAILED_AT).is_some());
    assert!(h(dlq::EVENT_ID).is_none());
    stack.stop().await;
}
