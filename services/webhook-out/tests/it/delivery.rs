//! Delivery: both profiles' signatures, retries, dead letters, isolation
//! between endpoints, rotation, live changes, several instances.

use crate::harness::*;
use chrono::Utc;
use hookline_core::Event;
use hookline_core::signing::{Secret, legacy, standard as std_sig};
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;

fn verify_standard(hit: &Hit, secrets: &[&str]) {
    for s in secrets {
        std_sig::verify(
            &[Secret::standard(s).unwrap()],
            hit.header("webhook-id"),
            hit.header("webhook-timestamp"),
            hit.header("webhook-signature"),
            &hit.body,
            Utc::now().timestamp(),
            300,
        )
        .unwrap_or_else(|e| panic!("signature with {s:.10}…: {e}"));
        // And with the spec's own reference library, independently.
        standardwebhooks::Webhook::new(s)
            .unwrap()
            .verify(&hit.body, &hit.headers)
            .unwrap_or_else(|e| panic!("standardwebhooks with {s:.10}…: {e:?}"));
    }
}

#[tokio::test]
async fn standard_profile_is_signed_and_filtered_by_type() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::ok().await;
    let w = stack.create(standard(&rx.url, &["page_view"])).await;
    let (id, secret) = (w["id"].as_str().unwrap(), w["secret"].as_str().unwrap());

    let skipped = form("frm_1");
    let event = page_view("c1");
    stack.publish(&skipped).await;
    stack.publish(&event).await;
    let hits = rx.wait_for(1, 20).await;
    let hit = &hits[0];
    assert_eq!(hit.header("webhook-id"), Some(event.id.as_str()));
    assert_eq!(hit.header("content-type"), Some("application/json"));
    verify_standard(hit, &[secret]);
    let got: Event = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(got, event, "the body is the envelope");

    let page = eventually("the success in the log", 10, || async {
        let v = stack.deliveries(id, "").await;
        (v["data"].as_array().unwrap().len() == 1).then_some(v)
    })
    .await;
    let a = &page["data"][0];
    assert_eq!(a["event_id"], event.id.as_str());
    assert_eq!(a["event"], "page_view");
    assert_eq!(
        (a["attempt"].as_i64(), a["status_code"].as_i64()),
        (Some(1), Some(200))
    );
    assert_eq!(a["success"], true);
    let w = eventually("last_delivered_at", 10, || async {
        let w = stack.webhook(id).await;
        (!w["last_delivered_at"].is_null()).then_some(w)
    })
    .await;
    assert_eq!(w["fail_count"], 0);
    assert_eq!(rx.count(), 1, "the form submission is not subscribed");

    // A test ping, signed the same way.
    let (s, v) = stack
        .call(Method::POST, &format!("/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(
        (s, &v["success"], &v["status_code"]),
        (200, &json!(true), &json!(200))
    );
    let hits = rx.wait_for(2, 10).await;
    assert_eq!(hits[1].json()["type"], "ping");
    verify_standard(&hits[1], &[secret]);

    stack.finish().await;
}

#[tokio::test]
async fn rc_legacy_body_is_byte_exact_and_verifies() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::ok().await;
    stack
        .create(json!({
            "url": rx.url, "events": ["form_submission"], "profile": "rc-legacy",
            "secret": "seed-plain-secret", "api_key": "super-long-random-api-key"
        }))
        .await;
    let event = form("frm_109");
    stack.publish(&event).await;
    let hit = rx.wait_for(1, 20).await.remove(0);
    let expected = format!(
        r#"{{"api_key":"super-long-random-api-key","event":"form_submission","data":{{"form_id":"frm_109","content_type":null,"content_id":null,"slug":null,"contact_id":null,"email":"john@acme.example","fields":{{"first_name":"John"}},"id":"{}","ts":"{}"}}}}"#,
        event.id,
        hookline_core::event::rfc3339_millis::format(&event.occurred_at)
    );
    assert_eq!(std::str::from_utf8(&hit.body).unwrap(), expected);
    // A receiver that parses and re-serialises compactly gets the same bytes.
    let reserialised = serde_json::to_string(&hit.json()).unwrap();
    assert_eq!(reserialised.len(), expected.len());
    assert_eq!(hit.header("webhook-id"), Some(event.id.as_str()));
    legacy::verify(
        &[Secret::legacy("seed-plain-secret").unwrap()],
        hit.header("x-timestamp"),
        hit.header("x-signature"),
        &hit.body,
        Utc::now().timestamp(),
        300,
    )
    .unwrap();
    stack.finish().await;
}

#[tokio::test]
async fn retries_until_the_first_2xx() {
    let stack = Stack::start(config()).await;
    // 500, then 503 with Retry-After, then 200.
    let rx = Receiver::with(
        |n| match n {
            1 => (500, vec![]),
            2 => (503, vec![("retry-after", "1".into())]),
            _ => (200, vec![]),
        },
        false,
    )
    .await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    let event = page_view("c1");
    stack.publish(&event).await;
    let hits = rx.wait_for(3, 30).await;
    assert!(
        hits.iter()
            .all(|h| h.header("webhook-id") == Some(event.id.as_str()))
    );
    // Retry-After 1 s is clamped to at most twice the 200 ms step.
    let page = eventually("three attempts logged", 10, || async {
        let v = stack.deliveries(&id, "").await;
        (v["data"].as_array().unwrap().len() == 3).then_some(v)
    })
    .await;
    let attempts: Vec<(i64, bool)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["success"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, vec![(3, true), (2, false), (1, false)]);
    assert!(
        page["data"][2]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    let gap = hits[2].at - hits[1].at;
    assert!(
        gap >= std::time::Duration::from_millis(150),
        "waited {gap:?} after Retry-After"
    );
    // Stops at the first 2xx.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(rx.count(), 3);
    let w = stack.webhook(&id).await;
    assert_eq!(w["fail_count"], 0, "a success resets the failure count");
    stack.finish().await;
}

#[tokio::test]
async fn exhausted_events_go_to_the_dlq() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::with(|_| (500, vec![]), false).await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    let event = page_view("c1");
    stack.publish(&event).await;
    // 1 try + 2 retries.
    let page = eventually("the exhausted attempt", 30, || async {
        let v = stack.deliveries(&id, "status=exhausted").await;
        (!v["data"].as_array().unwrap().is_empty()).then_some(v)
    })
    .await;
    assert_eq!(page["data"][0]["attempt"], 3);
    assert_eq!(page["data"][0]["event_id"], event.id.as_str());
    assert_eq!(rx.count(), 3);
    let dlq = stack
        .nats
        .js
        .get_stream(stack.nats.names.stream(hookline_core::names::RC_DLQ))
        .await
        .unwrap();
    let msg = eventually("the dead letter", 10, || async {
        dlq.get_last_raw_message_by_subject(&stack.nats.names.rc_dlq_subject(&id))
            .await
            .ok()
    })
    .await;
    let back: Event = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(back.id, event.id);
    let h = |n: &str| msg.headers.get(n).map(|v| v.as_str().to_string());
    let seq = h("Hookline-Source-Sequence").expect("source sequence");
    assert_eq!(h("Nats-Msg-Id"), Some(format!("{id}:{}:{seq}", event.id)));
    assert_eq!(h("Hookline-Consumer").as_deref(), Some(id.as_str()));
    assert_eq!(
        h("Hookline-Original-Msg-Id").as_deref(),
        Some(event.id.as_str())
    );
    assert_eq!(h("Hookline-Event-Id").as_deref(), Some(event.id.as_str()));
    assert!(h("Hookline-Error").is_some_and(|e| e.contains("500")));
    assert!(h("Hookline-First-Failed-At") <= h("Hookline-Failed-At"));
    assert_eq!(h("Hookline-Last-Status").as_deref(), Some("500"));
    assert_eq!(h("Hookline-Attempts").as_deref(), Some("3"));
    let w = stack.webhook(&id).await;
    assert_eq!(w["fail_count"], 3);
    assert!(w["failing_since"].is_string());
    stack.finish().await;
}

#[tokio::test]
async fn a_stuck_endpoint_does_not_delay_another() {
    let mut config = config();
    config.webhook_out.max_in_flight = 2;
    // Long enough that the stuck requests stay stuck for the whole test.
    config.webhook_out.request_timeout = std::time::Duration::from_secs(120);
    let stack = Stack::start(config.clone()).await;
    let stuck = Receiver::with(|_| (200, vec![]), true).await;
    let healthy = Receiver::ok().await;
    stack.create(standard(&stuck.url, &["page_view"])).await;
    stack.create(standard(&healthy.url, &["page_view"])).await;
    let events: Vec<Event> = (0..20).map(|i| page_view(&format!("c{i}"))).collect();
    for e in &events {
        stack.publish(e).await;
    }
    let hits = healthy.wait_for(20, 30).await;
    let ids: HashSet<_> = hits
        .iter()
        .map(|h| h.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 20, "every event reached the healthy endpoint");
    // Meanwhile the stuck one holds at most max_in_flight requests, unanswered.
    assert!(
        stuck.count() <= 2,
        "in flight at the stuck endpoint: {}",
        stuck.count()
    );
    stuck.release();
    stack.finish().await;
}

#[tokio::test]
async fn rotation_signs_with_both_secrets() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::ok().await;
    let w = stack.create(standard(&rx.url, &["page_view"])).await;
    let id = w["id"].as_str().unwrap();
    let old = w["secret"].as_str().unwrap().to_string();
    let rotated = stack.rotate(id).await;
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    stack.publish(&page_view("c1")).await;
    let hit = rx.wait_for(1, 20).await.remove(0);
    assert_eq!(
        hit.header("webhook-signature").unwrap().split(' ').count(),
        2
    );
    verify_standard(&hit, &[&old, &new]);
    stack.finish().await;
}

#[tokio::test]
async fn changes_apply_without_restart_and_instances_share_work() {
    let config = config();
    let a = Stack::start(config.clone()).await;
    let b = Stack::start(config.clone()).await;
    let first = Receiver::ok().await;
    let second = Receiver::ok().await;
    let id = a.create(standard(&first.url, &["page_view"])).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Two instances, one durable consumer: each event arrives once.
    let events: Vec<Event> = (0..30).map(|i| page_view(&format!("c{i}"))).collect();
    for e in &events {
        a.publish(e).await;
    }
    first.wait_for(30, 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let hits = first.hits();
    let ids: HashSet<_> = hits
        .iter()
        .map(|h| h.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(
        (hits.len(), ids.len()),
        (30, 30),
        "no event delivered twice"
    );

    // A change made through instance A reaches instance B too.
    let (s, _) = a
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": second.url})),
        )
        .await;
    assert_eq!(s, 200);
    eventually("deliveries to the new URL", 30, || async {
        a.publish(&page_view("after-change")).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        (second.count() > 0).then_some(())
    })
    .await;

    // Delete: the consumer goes, on every instance.
    let (s, _) = b
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let stream = a
        .nats
        .js
        .get_stream(a.nats.names.stream(hookline_core::names::RC_EVENTS))
        .await
        .unwrap();
    let name = format!("webhook-out-{id}");
    eventually("the consumer deleted", 30, || async {
        stream.consumer_info(&name).await.is_err().then_some(())
    })
    .await;
    a.stop().await;
    b.stop().await;
    hookline_core::testing::cleanup(&config).await;
}
