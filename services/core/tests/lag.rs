//! Lag figures against a real stream and consumer.

use async_nats::jetstream::consumer::{AckPolicy, pull};
use bytes::Bytes;
use futures::StreamExt;
use hookline_core::lag;
use hookline_core::names::RC_RAW;
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish_batch};
use hookline_core::{EventType, testing};

#[tokio::test]
async fn pending_ack_pending_and_state_follow_the_consumer() {
    let config = testing::isolated_config();
    let nats = Nats::connect_and_declare(&config).await.unwrap();
    let subject = nats.names.raw_subject(EventType::PageView);
    let msgs: Vec<Outgoing> = (0..5)
        .map(|i| Outgoing::new(subject.clone(), format!("id-{i}"), Bytes::from("{}")))
        .collect();
    assert!(
        publish_batch(&nats.js, &msgs)
            .await
            .iter()
            .all(|r| r.is_ok())
    );

    let stream = nats.js.get_stream(nats.names.stream(RC_RAW)).await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("probe".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();

    let find = |streams: &[lag::StreamLag]| {
        streams
            .iter()
            .flat_map(|s| s.consumers.clone())
            .find(|c| c.consumer == "probe")
            .expect("probe consumer listed")
    };
    let before = find(&lag::collect(&nats).await.unwrap());
    assert_eq!((before.pending, before.ack_pending), (5, 0));
    assert_eq!(before.state, "stalled");
    assert!(before.oldest_unacked_seconds >= 0.0);

    let mut batch = consumer.fetch().max_messages(2).messages().await.unwrap();
    let first = batch.next().await.unwrap().unwrap();
    first.ack().await.unwrap();
    let _second = batch.next().await.unwrap().unwrap(); // delivered, not acked
    let after = find(&lag::collect(&nats).await.unwrap());
    assert_eq!((after.pending, after.ack_pending), (3, 1));
    assert_eq!(after.state, "active");

    let raw = lag::collect(&nats).await.unwrap();
    let rc_raw = raw
        .iter()
        .find(|s| s.stream == nats.names.stream(RC_RAW))
        .unwrap();
    assert_eq!(rc_raw.messages, 5);
    lag::record(&raw); // gauges accept the reading

    testing::cleanup(&config).await;
}
