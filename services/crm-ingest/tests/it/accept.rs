//! Deliveries that must be accepted, and exactly once.

use crate::support::*;
use hookline_core::event::{ContentType, EventData};
use serde_json::json;

#[tokio::test]
async fn standard_delivery_is_published_once_with_its_id() {
    let stack = Stack::start(|_| {}).await;
    let id = "evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9E";
    let body = standard_form(id);
    stack.post_standard(id, &body).await.assert_ok();

    let ev = stack.only_event().await;
    assert_eq!(ev.id.as_str(), id);
    // What went in is what came out, field for field.
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got = serde_json::to_value(&ev).unwrap();
    assert_eq!(got, sent);
    stack.stop().await;
}

#[tokio::test]
async fn rc_legacy_delivery_from_webhook_out_is_published_once() {
    let stack = Stack::start(|_| {}).await;
    let id = "evt_01JC8Q6W0V7Y3Z4X5A6B7C8D9F";
    let body = legacy_page_view(API_KEY, id);
    let mut headers = legacy_headers(WHSEC, now(), body.as_bytes());
    headers.push(("webhook-id".into(), id.into()));
    stack.post(&headers, body).await.assert_ok();

    let ev = stack.only_event().await;
    assert_eq!(ev.id.as_str(), id);
    assert_eq!(
        ev.occurred_at,
        "2026-10-13T07:58:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    let EventData::PageView(p) = &ev.data else {
        panic!("a page view")
    };
    assert_eq!(p.content_type, ContentType::Resource);
    assert_eq!(p.content_id, "res_9");
    assert_eq!(p.contact_id.as_deref(), Some("cnt_001"));
    // The delivery-only keys are not in the payload.
    let data = serde_json::to_value(&ev).unwrap()["data"].clone();
    assert!(data.get("ts").is_none() && data.get("id").is_none());
    stack.stop().await;
}

/// Byte for byte what the legacy Node app's `postWebhook` sends: `JSON.stringify` of
/// `{api_key, event, data}` with `data.ts` and no id, signed with the plain
/// shared secret, no `webhook-id`.
fn seed_page_view(ts: &str) -> String {
    format!(
        r#"{{"api_key":"{API_KEY}","event":"page_view","data":{{"content_type":"event","content_id":"evt_123","slug":"generative-ai-for-finance-oct-2025","title":"Generative AI for Finance Leaders","community":"finance","contact_id":"cnt_001","url":"https://resources.example/event/generative-ai-for-finance-oct-2025","ts":"{ts}"}}}}"#
    )
}

fn seed_form(ts: &str) -> String {
    format!(
        r#"{{"api_key":"{API_KEY}","event":"form_submission","data":{{"form_id":"frm_109","content_type":"event","slug":"generative-ai-for-finance-oct-2025","content_id":"evt_123","contact_id":"cnt_001","email":"john@acme.com","fields":{{"first_name":"John","last_name":"Doe","company":"Acme Ltd","job_title":"CFO","country":"US","utm_source":"crm","utm_campaign":"AI_FIN_2025_Q4"}},"ts":"{ts}"}}}}"#
    )
}

#[tokio::test]
async fn seed_node_sender_is_accepted_and_its_repeats_collapse() {
    let stack = Stack::start(|_| {}).await;
    let view = seed_page_view("2025-10-13T07:58:00.000Z");
    stack
        .post(&legacy_headers(PLAIN, now(), view.as_bytes()), view.clone())
        .await
        .assert_ok();
    // The legacy Node app's retry re-signs the same body; a later view the same UTC day
    // is the same uniq_key: both collapse onto the first id.
    stack
        .post(&legacy_headers(PLAIN, now() - 1, view.as_bytes()), view)
        .await
        .assert_ok();
    let same_day = seed_page_view("2025-10-13T21:00:00.000Z");
    stack
        .post(&legacy_headers(PLAIN, now(), same_day.as_bytes()), same_day)
        .await
        .assert_ok();
    let ev = stack.only_event().await;
    assert!(ev.id.as_str().starts_with("evt_"));
    assert_eq!(ev.occurred_at.to_rfc3339(), "2025-10-13T07:58:00+00:00");

    // The next day is a new event; so is a form. Its copies in the same
    // minute collapse by derived id; the same submission a minute later has
    // another derived id but the same form, contact and fields, so within
    // `crm.form_dedupe_window` it goes out under the first copy's id too.
    let next_day = seed_page_view("2025-10-14T00:00:01.000Z");
    let form = seed_form("2025-10-13T08:02:11.000Z");
    let form_same_minute = seed_form("2025-10-13T08:02:59.000Z");
    let form_next_minute = seed_form("2025-10-13T08:03:00.000Z");
    for body in [next_day, form, form_same_minute, form_next_minute] {
        stack
            .post(&legacy_headers(PLAIN, now(), body.as_bytes()), body)
            .await
            .assert_ok();
    }
    assert_eq!(stack.count().await, 3);
    let forms: Vec<_> = stack
        .messages()
        .await
        .into_iter()
        .filter_map(|m| serde_json::from_slice::<hookline_core::Event>(&m.payload).ok())
        .filter_map(|e| match e.data {
            EventData::FormSubmission(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].fields["utm_campaign"], "AI_FIN_2025_Q4");
    assert_eq!(forms[0].email.as_deref(), Some("john@acme.com"));
    stack.stop().await;
}

#[tokio::test]
async fn duplicate_id_is_ok_twice_and_published_once() {
    let stack = Stack::start(|_| {}).await;
    let id = "evt_01JC8Q6W0V7Y3Z4X5A6B7C8DAA";
    let body = standard_form(id);
    for _ in 0..2 {
        stack.post_standard(id, &body).await.assert_ok();
    }
    // The same id through the other profile is the same event too.
    let legacy = legacy_page_view(API_KEY, id);
    stack
        .post(&legacy_headers(WHSEC, now(), legacy.as_bytes()), legacy)
        .await
        .assert_ok();
    assert_eq!(stack.only_event().await.id.as_str(), id);
    stack.stop().await;
}

#[tokio::test]
async fn every_configured_secret_is_accepted_during_rotation() {
    // `whsec_` secrets only, so no API key is required.
    let old = hookline_core::signing::Secret::generate();
    let new = hookline_core::signing::Secret::generate();
    let stack = Stack::start(|c| {
        c.ingest.secrets = vec![old.clone(), new.clone()];
        c.ingest.api_key = None;
    })
    .await;
    for (n, secret) in [old.as_str(), new.as_str()].into_iter().enumerate() {
        let id = format!("evt_rotation_std_{n}");
        let body = standard_form(&id);
        stack
            .post(&standard_headers(secret, &id, now(), body.as_bytes()), body)
            .await
            .assert_ok();
        // Without a configured API key, any api_key in the body is fine.
        let body = legacy_page_view("whatever", &format!("evt_rotation_legacy_{n}"));
        stack
            .post(&legacy_headers(secret, now(), body.as_bytes()), body)
            .await
            .assert_ok();
    }
    assert_eq!(stack.count().await, 4);
    stack.stop().await;
}

#[tokio::test]
async fn standard_signature_header_with_old_and_new_signatures() {
    let old = hookline_core::signing::Secret::generate();
    let stack = Stack::start(|_| {}).await;
    // The sender signs with its old secret (unknown here) and the new one
    // (WHSEC), in either order.
    for (n, order_new_first) in [false, true].into_iter().enumerate() {
        let id = format!("evt_two_sigs_{n}");
        let body = standard_form(&id);
        let ts = now();
        let with_old = standard_headers(&old, &id, ts, body.as_bytes());
        let with_new = standard_headers(WHSEC, &id, ts, body.as_bytes());
        let (a, b) = (&with_old[2].1, &with_new[2].1);
        let both = if order_new_first {
            format!("{b} {a}")
        } else {
            format!("{a} {b}")
        };
        let mut headers = with_new.clone();
        headers[2].1 = both;
        stack.post(&headers, body).await.assert_ok();
    }
    assert_eq!(stack.count().await, 2);
    stack.stop().await;
}

#[tokio::test]
async fn a_delivery_signed_by_the_reference_standardwebhooks_crate_is_accepted() {
    let stack = Stack::start(|_| {}).await;
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let body = standard_form("evt_ignored_header_wins");
    let ts = now();
    let wh = standardwebhooks::Webhook::new(WHSEC).unwrap();
    let signature = wh.sign(id, ts, body.as_bytes()).unwrap();
    let headers = vec![
        ("webhook-id".to_string(), id.to_string()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        ("webhook-signature".to_string(), signature),
    ];
    stack.post(&headers, body).await.assert_ok();
    // Standard Webhooks: the signed `webhook-id` header is the event id, else the body's.
    assert_eq!(stack.only_event().await.id.as_str(), id);
    stack.stop().await;
}

#[tokio::test]
async fn ping_is_ok_and_publishes_nothing() {
    let stack = Stack::start(|_| {}).await;
    let body = json!({"id": "evt_ping", "occurred_at": "2026-10-13T07:58:00.000Z", "type": "ping", "data": {}}).to_string();
    stack
        .post(
            &standard_headers(WHSEC, "evt_ping", now(), body.as_bytes()),
            body,
        )
        .await
        .assert_ok();
    let body =
        json!({"api_key": API_KEY, "event": "ping", "data": {"id": "evt_ping2"}}).to_string();
    stack
        .post(&legacy_headers(PLAIN, now(), body.as_bytes()), body.clone())
        .await
        .assert_ok();
    // A ping still has to be signed.
    stack
        .post(&[], body)
        .await
        .assert_error(401, "Invalid signature");
    assert_eq!(stack.count().await, 0);
    stack.stop().await;
}
