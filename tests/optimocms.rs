//! OptimoCMS both ways, across real processes: webhook-out's `optimocms`
//! profile is accepted by a receiver written exactly like the vendor guide's
//! Express example; and an event type hookline does not model
//! (`order.created`) lands in `other_events` and nowhere else.

use hookline_core::signing::optimocms;
use hookline_e2e::optimocms_receiver::Receiver;
use hookline_e2e::stack::{API_KEY, SHARED_SECRET};
use hookline_e2e::{Service, Stack, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
/// A secret as OptimoCMS shows it, configured in `ingest.optimocms_secrets`.
const OPTIMO_SECRET: &str = "whsec_k7x9m2p4q8r1t5w3";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0";

async fn to_edge(stack: &Stack, path: &str, body: Value) -> String {
    let v = stack.accepted(path, BROWSER, body).await;
    v["id"].as_str().expect("event id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_written_like_the_guide_accepts_the_optimocms_profile() {
    let mut stack = Stack::new();
    stack.extra_env.push((
        "HOOKLINE__WEBHOOK_OUT__SITE_ID".into(),
        "site_abc123".into(),
    ));
    for s in [
        Service::Edge,
        Service::Dedupe,
        Service::Ingest,
        Service::WebhookOut,
    ] {
        stack.start(s).await;
    }
    // The secret webhook-out generates, given to the receiver as the user
    // would copy it: `whsec_…` and all.
    let (status, created) = stack
        .admin(
            reqwest::Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/unused", "events": ["page_view", "form_submission"],
                        "profile": "optimocms"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret on create");
    assert!(secret.starts_with("whsec_"));
    let receiver = Receiver::start(secret).await;
    let id = created["id"].as_str().unwrap();
    let (status, v) = stack
        .admin(
            reqwest::Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": receiver.url})),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    let form = to_edge(
        &stack,
        "/api/form-submission",
        json!({
            "form_id": "frm_109", "email": "john@acme.com",
            "fields": {"first_name": "John", "last_name": "Doe", "company": "Acme Ltd"}
        }),
    )
    .await;
    let view = to_edge(
        &stack,
        "/api/page-view",
        json!({
            "content_type": "news", "content_id": "n1", "slug": "hello", "title": "Hello"
        }),
    )
    .await;
    let (status, ping) = stack
        .admin(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{ping}");

    let seen = wait_for("three deliveries accepted", LIMIT, || {
        let seen = receiver.seen();
        async move { (seen.iter().filter(|s| s.accepted).count() >= 3).then_some(seen) }
    })
    .await;
    assert!(
        seen.iter().all(|s| s.accepted),
        "the guide's receiver refused one: {seen:?}"
    );
    let event = |id: &str| {
        let s = seen
            .iter()
            .find(|s| s.event["id"] == id)
            .unwrap_or_else(|| panic!("{id} not delivered: {seen:?}"));
        assert_eq!(s.webhook_id.as_deref(), Some(id), "webhook-id is kept");
        s.event.clone()
    };
    let f = event(&form);
    assert_eq!(f["type"], "form.submitted");
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{f}");
    assert!(f["created_at"].as_str().is_some());
    let data = &f["data"];
    assert_eq!(data["formId"], "frm_109");
    assert_eq!(data["siteId"], "site_abc123");
    assert!(data["submittedAt"].as_str().is_some());
    // What the guide's handleFormSubmission reads.
    assert_eq!(data["fields"]["email"], "john@acme.com");
    assert_eq!(data["fields"]["firstName"], "John");
    assert_eq!(data["fields"]["lastName"], "Doe");
    assert_eq!(data["fields"]["company"], "Acme Ltd");
    let v = event(&view);
    assert_eq!(v["type"], "page_view");
    assert_eq!(v["data"]["content_id"], "n1");
    assert_eq!(v["data"]["title"], "Hello");
    assert!(seen.iter().any(|s| s.event["type"] == "ping"));
    drop(receiver);
    stack.cleanup().await;
}

/// An OptimoCMS-signed POST to crm-ingest; returns the status.
async fn optimocms_post(stack: &Stack, body: &Value) -> u16 {
    let body = body.to_string();
    let ts = chrono::Utc::now().timestamp_millis();
    let sig = optimocms::sign(&optimocms::key(OPTIMO_SECRET).unwrap(), ts, body.as_bytes());
    stack
        .http()
        .post(format!(
            "{}/api/webhooks/optimocms",
            stack.url(Service::Ingest)
        ))
        .header("content-type", "application/json")
        .header("x-optimocms-timestamp", ts.to_string())
        .header("x-optimocms-signature", sig)
        .body(body)
        .send()
        .await
        .expect("ingest answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_created_lands_in_other_events_and_nowhere_else() {
    let mut stack = Stack::new();
    stack.extra_env.push((
        "HOOKLINE__INGEST__OPTIMOCMS_SECRETS".into(),
        OPTIMO_SECRET.into(),
    ));
    stack.start_all().await;
    let order = json!({"id": "evt_order_1", "type": "order.created", "created_at": "2026-05-26T14:00:00Z",
        "data": {"orderId": "ord_1", "customer": {"email": "jo@acme.com", "name": "Jo Lee"}, "totalCents": 4200}});
    // Twice: the sender's retry is the same event.
    assert_eq!(optimocms_post(&stack, &order).await, 200);
    assert_eq!(optimocms_post(&stack, &order).await, 200);
    // The same kind of event through the Resources Centre route (seed scheme).
    let booking = json!({"api_key": API_KEY, "event": "booking.created",
        "data": {"id": "evt_booking_1", "bookingId": "b1", "customer": {"email": "jo@acme.com"}}})
    .to_string();
    let ts = chrono::Utc::now().timestamp();
    let sig = hookline_core::signing::legacy::sign(
        &hookline_core::signing::Secret::legacy(SHARED_SECRET).unwrap(),
        ts,
        booking.as_bytes(),
    );
    let status = stack
        .http()
        .post(format!(
            "{}/api/webhooks/resources-centre",
            stack.url(Service::Ingest)
        ))
        .header("content-type", "application/json")
        .header("X-Timestamp", ts.to_string())
        .header("X-Signature", sig)
        .body(booking)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // A form from the same person, so score and automation have something to do.
    let form = json!({"id": "evt_form_1", "type": "form.submitted",
        "data": {"formId": "frm_contact", "siteId": "site_abc123",
                 "fields": {"email": "jo@acme.com", "firstName": "Jo"}}});
    assert_eq!(optimocms_post(&stack, &form).await, 200);
    stack.wait_idle(LIMIT).await;

    let pool = stack.crm_pool().await;
    let others: Vec<(String, String, String, Value)> =
        sqlx::query_as("SELECT id, type, source, payload FROM other_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    // As received, less the API key.
    let stored_booking = json!({"event": "booking.created",
        "data": {"id": "evt_booking_1", "bookingId": "b1", "customer": {"email": "jo@acme.com"}}});
    assert_eq!(
        others,
        vec![
            (
                "evt_booking_1".into(),
                "booking.created".into(),
                "resources-centre".into(),
                stored_booking
            ),
            (
                "evt_order_1".into(),
                "order.created".into(),
                "optimocms".into(),
                order
            ),
        ]
    );
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // Nowhere else: the form alone is a content event, scored, tasked.
    assert_eq!(
        count("SELECT count(*) FROM content_events WHERE event_id <> 'evt_form_1'").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM content_events WHERE event_id = 'evt_form_1'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM processed_events WHERE event_id IN ('evt_order_1', 'evt_booking_1') AND consumer <> 'event-store'").await,
        0,
        "score and automation never apply other-type events"
    );
    assert_eq!(
        count("SELECT count(*) FROM processed_events WHERE consumer = 'engagement-score' AND event_id = 'evt_form_1'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM automation_tasks WHERE event_id IN ('evt_order_1', 'evt_booking_1')").await,
        0
    );
    let (dead_rc, dead_crm) = stack.dead_letters().await;
    assert_eq!((dead_rc, dead_crm), (0, 0));
    stack.cleanup().await;
}
