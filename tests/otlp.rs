//! Spans over OTLP: with `telemetry.otlp_endpoint` pointing at a receiver
//! in this test, one page view through a stack of separate processes yields
//! one trace: the edge's publish span is its root, and dedupe's verdict,
//! webhook-out's delivery, crm-ingest's publish and a CRM consumer's
//! processing each hang off the hop before it, all carrying `event_id`.
//!
//! Spans are held back (a ten-minute batch delay) until the processes are
//! stopped with SIGTERM, so they arrive only if shutdown flushes them.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test otlp`.

use hookline_e2e::otlp::{OtlpReceiver, ReceivedSpan};
use hookline_e2e::{Service, Stack, wait_for};
use std::time::Duration;

/// The hops of one page view, in order, as (process, exported span name).
const HOPS: [(&str, &str); 5] = [
    ("rc-edge", "rc-edge publish"),
    ("dedupe", "dedupe verdict"),
    ("webhook-out", "webhook-out deliver"),
    ("crm-ingest", "crm-ingest publish"),
    ("crm-consumers", "crm-consumers event-store"),
];

#[tokio::test]
async fn one_page_view_is_one_trace_from_the_edge_to_the_crm() {
    let receiver = OtlpReceiver::start().await;
    let mut stack = Stack::new();
    stack.extra_env.extend([
        (
            "HOOKLINE__TELEMETRY__OTLP_ENDPOINT".to_string(),
            receiver.url.clone(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".to_string(), "600000".to_string()),
    ]);
    stack.start_all().await;
    let body = serde_json::json!({"content_type": "event", "content_id": "e1", "slug": "e1", "contact_id": "cnt_otlp"});
    let (status, accepted) = stack.post_edge("/api/page-view", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();

    wait_for(
        "event-store to process the event",
        Duration::from_secs(90),
        || {
            let stack = &stack;
            let id = id.clone();
            async move {
                let t = stack.cli(&["trace", &id, "--json"]).await.json();
                let consumers = t["crm"]["consumers"].as_array()?.clone();
                consumers
                    .iter()
                    .any(|c| c["name"] == "event-store" && c["processed_at"].is_string())
                    .then_some(())
            }
        },
    )
    .await;
    assert!(
        receiver.spans().is_empty(),
        "spans wait for the batch delay or shutdown"
    );
    for service in Service::ALL {
        assert!(
            stack.terminate(service, Duration::from_secs(15)).await,
            "{service:?} stops cleanly"
        );
    }

    let hops = wait_for("every hop's span", Duration::from_secs(10), || {
        let spans = receiver.spans();
        let id = id.clone();
        async move {
            HOPS.iter()
                .map(|(_, name)| {
                    spans
                        .iter()
                        .find(|s| s.name == *name && s.attributes.get("event_id") == Some(&id))
                        .cloned()
                })
                .collect::<Option<Vec<ReceivedSpan>>>()
        }
    })
    .await;
    let trace = &hops[0].trace_id;
    assert_eq!(trace.len(), 32);
    assert!(
        hops[0].parent_span_id.is_empty(),
        "the edge starts the trace"
    );
    for (i, ((service, name), span)) in HOPS.iter().zip(&hops).enumerate() {
        assert_eq!(&span.trace_id, trace, "{name} is in the edge's trace");
        assert_eq!(
            span.resource_service, *service,
            "{name} exported by {service}"
        );
        assert_eq!(
            span.attributes.get("service").map(String::as_str),
            Some(*service)
        );
        if i > 0 {
            assert_eq!(
                span.parent_span_id,
                hops[i - 1].span_id,
                "{name} is a child of {}",
                HOPS[i - 1].1
            );
        }
    }
    assert_eq!(
        hops[1].attributes.get("outcome").map(String::as_str),
        Some("unique")
    );
    assert_eq!(
        hops[2].attributes.get("outcome").map(String::as_str),
        Some("delivered")
    );
    stack.cleanup().await;
}
