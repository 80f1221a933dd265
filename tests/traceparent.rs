//! One W3C trace from the edge to the CRM: a client's `traceparent` is
//! continued on RC_RAW, RC_EVENTS, the webhook request and CRM_EVENTS, each
//! hop a new span of the same trace.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test traceparent`.

use hookline_core::names::{CRM_EVENTS, RC_EVENTS, RC_RAW};
use hookline_core::traceparent;
use hookline_e2e::{Service, Stack, wait_for};
use std::collections::BTreeSet;
use std::time::Duration;

const CLIENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn a_clients_trace_is_continued_by_every_hop() {
    let mut stack = Stack::new();
    stack.start_all().await;
    let body = serde_json::json!({"content_type": "event", "content_id": "e1", "slug": "e1", "contact_id": "cnt_tp"});
    let resp = stack
        .http()
        .post(format!("{}/api/page-view", stack.url(Service::Edge)))
        .header("traceparent", CLIENT)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let t = wait_for(
        "the event in CRM_EVENTS",
        Duration::from_secs(90),
        || async {
            let out = stack.cli(&["trace", &id, "--json"]).await;
            let t = out.json();
            t["crm"]["ingested"]["seq"].as_u64().is_some().then_some(t)
        },
    )
    .await;
    let nats = stack.nats().await;
    let mut spans = BTreeSet::new();
    for (base, at) in [
        (RC_RAW, "edge"),
        (RC_EVENTS, "rc_events"),
        (CRM_EVENTS, "crm"),
    ] {
        let seq = match at {
            "crm" => t["crm"]["ingested"]["seq"].as_u64(),
            other => t[other]["seq"].as_u64(),
        }
        .unwrap_or_else(|| panic!("{base} sequence in {t}"));
        let stream = nats.js.get_stream(nats.names.stream(base)).await.unwrap();
        let msg = stream.get_raw_message(seq).await.unwrap();
        let tp = traceparent::of(Some(&msg.headers))
            .unwrap_or_else(|| panic!("{base} has a traceparent"));
        assert_eq!(
            traceparent::trace_id(&tp),
            traceparent::trace_id(CLIENT),
            "{base} continues the client's trace"
        );
        spans.insert(tp);
    }
    spans.insert(CLIENT.to_string());
    assert_eq!(spans.len(), 4, "every hop is its own span: {spans:?}");
    stack.cleanup().await;
}
