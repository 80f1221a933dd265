//! Health, metrics, the OpenAPI document, 503 when NATS cannot take an event.

use crate::support::*;
use hookline_core::names::CRM_EVENTS;

#[tokio::test]
async fn ops_routes_openapi_and_metrics() {
    hookline_core::telemetry::prometheus();
    let stack = Stack::start(|_| {}).await;
    assert_eq!(stack.get("/healthz").await.0, 200);
    let (status, body) = stack.get("/readyz").await;
    assert_eq!(status, 200, "{body}");

    let (status, doc) = stack.get("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let op = &doc["paths"][crm_ingest::ROUTE]["post"];
    assert!(op.is_object(), "{doc}");
    for code in ["200", "400", "401", "413", "503"] {
        assert!(
            op["responses"][code].is_object(),
            "response {code} documented"
        );
    }
    assert!(doc["components"]["schemas"]["StatusBody"].is_object());

    // Unknown paths and methods answer JSON too.
    let (status, body) = stack.get("/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"status\":\"error\""), "{body}");
    let (status, body) = stack.get(crm_ingest::ROUTE).await;
    assert_eq!(status, 405);
    assert!(body.contains("\"status\":\"error\""), "{body}");

    let body = standard_form("evt_metrics");
    stack
        .post(
            &standard_headers(WHSEC, "evt_metrics", now(), body.as_bytes()),
            body.clone(),
        )
        .await
        .assert_ok();
    // A signed legacy body with the wrong API key: the same 401 as a bad
    // signature, told apart only in the metrics.
    let wrong_key = legacy_page_view("wrong-key", "evt_metrics_key");
    stack
        .post(
            &legacy_headers(PLAIN, now(), wrong_key.as_bytes()),
            wrong_key,
        )
        .await
        .assert_error(401, "Invalid signature");

    // Metrics are on the ops listener only, not on the public port.
    assert_eq!(stack.get("/metrics").await.0, 404);
    let metrics = stack
        .http
        .get(format!("{}/metrics", stack.ops_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .any(|l| l.starts_with(name) && labels.iter().all(|lb| l.contains(lb)))
    };
    assert!(
        has(
            "hookline_http_requests_total{",
            &[
                "service=\"crm-ingest\"",
                "route=\"/api/webhooks/resources-centre\"",
                "status=\"200\""
            ]
        ),
        "{metrics}"
    );
    assert!(has("hookline_http_requests_total{", &["status=\"401\""]));
    assert!(has(
        "hookline_ingest_deliveries_total{",
        &["outcome=\"accepted\""]
    ));
    assert!(has(
        "hookline_ingest_deliveries_total{",
        &["outcome=\"invalid_api_key\""]
    ));
    stack.stop().await;
}

#[tokio::test]
async fn nats_that_cannot_take_the_event_is_503_and_the_retry_succeeds() {
    let stack = Stack::start(|_| {}).await;
    let stream = stack.config.names().stream(CRM_EVENTS);
    stack.nats.js.delete_stream(&stream).await.unwrap();

    let id = "evt_unavailable";
    let body = standard_form(id);
    stack
        .post_standard(id, &body)
        .await
        .assert_error(503, "Event stream unavailable, retry later");

    // Once the stream is back, the sender's retry lands, once.
    hookline_core::nats::declare(&stack.nats, &stack.config)
        .await
        .unwrap();
    assert_eq!(stack.count().await, 0, "nothing half-done");
    stack
        .post(&standard_headers(WHSEC, id, now(), body.as_bytes()), body)
        .await
        .assert_ok();
    assert_eq!(stack.only_event().await.id.as_str(), id);
    stack.stop().await;
}
