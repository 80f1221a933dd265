//! `POST /api/webhooks/optimocms`, and types hookline does not model on both
//! routes, against the real NATS.

use crate::support::*;
use chrono::Utc;
use hookline_core::event::EventData;
use hookline_core::{Event, OtherEvent};
use serde_json::{Value, json};

/// A secret as OptimoCMS shows it.
const OPTIMO: &str = "whsec_k7x9m2p4q8r1t5w3";
const ROUTE: &str = "/api/webhooks/optimocms";

async fn stack() -> Stack {
    Stack::start(|c| {
        c.ingest.optimocms_secrets = vec!["whsec_old_rotated_out_1".into(), OPTIMO.into()]
    })
    .await
}

fn ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// OptimoCMS headers signing `body` now with [`OPTIMO`].
fn signed(body: &str) -> Vec<(String, String)> {
    optimocms_headers(OPTIMO, ms(), body.as_bytes())
}

fn form_body(id: &str) -> String {
    json!({
        "id": id, "type": "form.submitted", "created_at": "2026-05-26T14:00:00.000Z",
        "data": {"formId": "frm_contact", "siteId": "site_abc123",
                 "fields": {"email": "jo@acme.com", "firstName": "Jo", "lastName": "Lee"},
                 "submittedAt": "2026-05-26T14:00:00.000Z"}
    })
    .to_string()
}

#[track_caller]
fn assert_refused(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.body, json!({ "error": error }));
}

#[tokio::test]
async fn signed_form_is_published_as_a_form_submission() {
    let stack = stack().await;
    let body = form_body("evt_optimo_1");
    let answer = stack.post_to(ROUTE, &signed(&body), body.clone()).await;
    assert_eq!(
        (answer.status, answer.body),
        (200, json!({"received": true}))
    );
    let ev = stack.only_event().await;
    assert_eq!(ev.id.as_str(), "evt_optimo_1");
    let EventData::FormSubmission(f) = ev.data else {
        panic!("a form submission expected")
    };
    assert_eq!(
        (f.form_id.as_str(), f.email.as_deref(), f.site_id.as_deref()),
        ("frm_contact", Some("jo@acme.com"), Some("site_abc123"))
    );
    assert_eq!(f.fields["firstName"], "Jo");
    // The sender's retry (signed afresh) is the same event: nothing new.
    let answer = stack
        .post_to(
            ROUTE,
            &optimocms_headers(OPTIMO, ms() + 1, body.as_bytes()),
            body,
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(stack.count().await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn forged_stale_and_future_deliveries_are_401() {
    let stack = stack().await;
    let body = form_body("evt_optimo_2");
    let bytes = body.as_bytes();
    let now = ms();
    let minute = 60_000;
    let mut tampered = optimocms_headers(OPTIMO, now, bytes);
    let other_body = form_body("evt_optimo_3");
    tampered[1].1 = optimocms_headers(OPTIMO, now, other_body.as_bytes())[1]
        .1
        .clone();
    let cases = [
        (
            "wrong secret",
            optimocms_headers("whsec_not_the_right_one", now, bytes),
        ),
        ("signature of another body", tampered),
        (
            "older than 5 minutes",
            optimocms_headers(OPTIMO, now - 6 * minute, bytes),
        ),
        (
            "more than 5 minutes ahead",
            optimocms_headers(OPTIMO, now + 6 * minute, bytes),
        ),
        (
            "in seconds, not milliseconds",
            optimocms_headers(OPTIMO, now / 1000, bytes),
        ),
        ("no headers", vec![]),
        (
            "a Standard Webhooks signature",
            standard_headers(WHSEC, "evt_optimo_2", now / 1000, bytes),
        ),
    ];
    for (case, headers) in cases {
        let answer = stack.post_to(ROUTE, &headers, body.clone()).await;
        assert_eq!(answer.status, 401, "{case}: {:?}", answer.body);
        assert_refused(&answer, 401, "Invalid signature");
    }
    // Inside the window either way is fine.
    for ts in [now - 4 * minute, now + 4 * minute] {
        let answer = stack
            .post_to(ROUTE, &optimocms_headers(OPTIMO, ts, bytes), body.clone())
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(stack.count().await, 1);
    stack.stop().await;
}

#[tokio::test]
async fn without_optimocms_secrets_every_delivery_is_refused() {
    let stack = Stack::start(|_| {}).await;
    let body = form_body("evt_optimo_4");
    let answer = stack.post_to(ROUTE, &signed(&body), body.clone()).await;
    assert_refused(&answer, 401, "Invalid signature");
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_problem() {
    let stack = stack().await;
    for (body, error) in [
        (
            "{not json".to_string(),
            "Malformed JSON: key must be a string at line 1 column 2",
        ),
        (
            json!({"type": "form.submitted", "data": {"fields": {}}}).to_string(),
            "Invalid form_submission data: data.formId is required",
        ),
        (
            json!({"type": "a b", "data": {}}).to_string(),
            "Malformed event type \"a b\" (expected 1 to 64 printable ASCII characters without spaces)",
        ),
    ] {
        let answer = stack.post_to(ROUTE, &signed(&body), body.clone()).await;
        assert_refused(&answer, 400, error);
    }
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}

/// The one other-type message on CRM_EVENTS, checking subject and msg id.
async fn only_other(stack: &Stack) -> OtherEvent {
    let msgs = stack.messages().await;
    assert_eq!(msgs.len(), 1, "exactly one message on CRM_EVENTS");
    assert!(serde_json::from_slice::<Event>(&msgs[0].payload).is_err());
    let other: OtherEvent = serde_json::from_slice(&msgs[0].payload).expect("an other event");
    assert_eq!(
        msgs[0].subject.as_str(),
        stack.config.names().crm_other_subject(&other.kind)
    );
    let msg_id = msgs[0]
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_string());
    assert_eq!(msg_id.as_deref(), Some(other.id.as_str()));
    other
}

#[tokio::test]
async fn unknown_types_are_kept_on_the_optimocms_route() {
    let stack = stack().await;
    let body = json!({"type": "booking.created", "created_at": "2026-05-26T14:00:00Z",
        "data": {"bookingId": "b1", "customer": {"name": "Jo", "email": "jo@acme.com"}}});
    let text = body.to_string();
    let answer = stack
        .post_to(
            ROUTE,
            &optimocms_headers(OPTIMO, ms(), text.as_bytes()),
            text,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let other = only_other(&stack).await;
    assert_eq!(
        (other.kind.as_str(), other.source.as_str()),
        ("booking.created", "optimocms")
    );
    assert!(
        other.id.as_str().starts_with("evt_"),
        "derived from the body"
    );
    assert_eq!(Value::Object(other.payload), body);
    assert!(
        stack.messages().await[0]
            .subject
            .ends_with(".crm.events.other.booking_created")
    );
    stack.stop().await;
}

#[tokio::test]
async fn unknown_types_are_kept_on_the_resources_centre_route() {
    let stack = stack().await;
    // rc-legacy shape: the API key is checked, then left out.
    let body = json!({"api_key": API_KEY, "event": "order.created",
        "data": {"id": "ord_1", "orderId": "o1", "totalCents": 1299}})
    .to_string();
    stack
        .post(&legacy_headers(PLAIN, now(), body.as_bytes()), body)
        .await
        .assert_ok();
    let other = only_other(&stack).await;
    assert_eq!(other.id.as_str(), "ord_1");
    assert_eq!(other.source, "resources-centre");
    assert!(!other.payload.contains_key("api_key"));
    // Standard Webhooks shape: the webhook-id is the id.
    let body = json!({"type": "page.published", "data": {"pageId": "p1"}}).to_string();
    stack
        .post(
            &standard_headers(WHSEC, "msg_pub_1", now(), body.as_bytes()),
            body,
        )
        .await
        .assert_ok();
    let msgs = stack.messages().await;
    assert_eq!(msgs.len(), 2);
    let other: OtherEvent = serde_json::from_slice(&msgs[1].payload).unwrap();
    assert_eq!(
        (other.id.as_str(), other.kind.as_str()),
        ("msg_pub_1", "page.published")
    );
    stack.stop().await;
}
