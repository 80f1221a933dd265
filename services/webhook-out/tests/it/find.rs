//! Finding one message in a stream by its id's time: in id order however
//! far the stored time lags, past deleted sequences and other subjects, and
//! a message stored out of id order found by stored time instead.

use async_nats::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use hookline_core::EventId;
use hookline_core::names::RC_EVENTS;
use hookline_core::nats::{Nats, declare};
use webhook_out::trace::find::{Search, Window, locate};

/// An event id minted at `at`.
fn id_at(at: DateTime<Utc>) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp() as u64,
        at.timestamp_subsec_nanos(),
    );
    EventId::from_uuid(uuid::Uuid::new_v7(ts))
        .as_str()
        .to_string()
}

async fn put(nats: &Nats, subject: &str, msg_id: &str) -> u64 {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    let subject = nats.names.subject(subject);
    let ack = nats.js.publish_with_headers(subject, headers, "{}".into());
    ack.await.unwrap().await.unwrap().sequence
}

fn around(t: DateTime<Utc>) -> Window {
    Window {
        from: t - Duration::seconds(1),
        until: t + Duration::seconds(1),
    }
}

#[tokio::test]
async fn ids_are_found_in_id_order_past_gaps_and_late_ones_by_stored_time() {
    let config = hookline_core::testing::isolated_config();
    let nats = Nats::connect(&config.nats).await.unwrap();
    declare(&nats, &config).await.unwrap();
    let stream = nats.names.stream(RC_EVENTS);
    let filter = nats.names.subject("rc.events.>");
    // Ids minted an hour ago, one per 10 ms, stored now: a hop that lags an
    // hour. Every fifth message is on another subject or has a foreign id.
    let start = Utc::now() - Duration::hours(1);
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for i in 0..600 {
        let at = start + Duration::milliseconds(10 * i);
        let id = id_at(at);
        let seq = match i % 5 {
            0 => put(&nats, "rc.events.page_view", &format!("legacy-{i}")).await,
            _ => put(&nats, "rc.events.page_view", &id).await,
        };
        ids.push((at, id));
        seqs.push(seq);
    }
    let late_at = start + Duration::seconds(2);
    let late = id_at(late_at);
    put(&nats, "rc.events.page_view", &late).await;
    // Deleted sequences around a target, as limits or purges leave them.
    let (target_at, target) = ids[301].clone();
    let stream_handle = nats.js.get_stream(&stream).await.unwrap();
    for seq in [seqs[299], seqs[300], seqs[302]] {
        stream_handle.delete_message(seq).await.unwrap();
    }

    let find = |search, id: String| {
        let (js, stream, filter) = (nats.js.clone(), stream.clone(), filter.clone());
        async move { locate(&js, &stream, filter, search, &id).await.unwrap() }
    };
    for (at, id) in [&ids[1], &ids[599], &(target_at, target.clone())] {
        let found = find(Search::IdOrder(around(*at)), id.clone()).await;
        let found = found.unwrap_or_else(|| panic!("{id} minted at {at} not found"));
        assert!(found.subject.ends_with("rc.events.page_view"));
    }
    let found = find(Search::IdOrder(around(target_at)), target.clone()).await;
    assert_eq!(found.unwrap().seq, seqs[301]);
    let never = id_at(start + Duration::seconds(3));
    assert!(
        find(Search::IdOrder(around(start + Duration::seconds(3))), never)
            .await
            .is_none()
    );
    let future = Utc::now() + Duration::hours(1);
    assert!(
        find(Search::IdOrder(around(future)), id_at(future))
            .await
            .is_none()
    );

    // Stored an hour after its neighbours in id order: id order misses it
    // (it sits past the window), the stored time finds it.
    assert!(
        find(Search::IdOrder(around(late_at)), late.clone())
            .await
            .is_none()
    );
    let stored = Window {
        from: Utc::now() - Duration::minutes(1),
        until: Utc::now(),
    };
    assert!(find(Search::StoredTime(stored), late).await.is_some());
    hookline_core::testing::cleanup(&config).await;
}
