//! Replay re-delivers a window's events, filtered by type.

use crate::harness::*;
use chrono::Utc;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn replay_redelivers_the_window_by_type() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::ok().await;
    let id = stack
        .create(standard(&rx.url, &["page_view", "form_submission"]))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let since = Utc::now() - chrono::Duration::seconds(1);
    let views: Vec<_> = (0..3).map(|i| page_view(&format!("c{i}"))).collect();
    let forms: Vec<_> = (0..2).map(|i| form(&format!("frm_{i}"))).collect();
    for e in views.iter().chain(&forms) {
        stack.publish(e).await;
    }
    rx.wait_for(5, 20).await;

    let path = format!("/v1/webhooks/{id}/replay");
    let (s, v) = stack
        .call(
            Method::POST,
            &path,
            Some(json!({"since": since, "event_types": ["page_view"]})),
        )
        .await;
    assert_eq!((s, &v), (200, &json!({"replayed": 3})));
    let hits = rx.wait_for(8, 30).await;
    let replayed: HashSet<String> = hits[5..]
        .iter()
        .map(|h| h.header("webhook-id").unwrap().to_string())
        .collect();
    let expected: HashSet<String> = views.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(replayed, expected, "the same ids, page views only");

    // The replay finishes: its consumer is removed.
    let stream = stack
        .nats
        .js
        .get_stream(stack.nats.names.stream(hookline_core::names::RC_EVENTS))
        .await
        .unwrap();
    eventually("the replay consumer removed", 30, || async {
        let names: Vec<String> = futures::TryStreamExt::try_collect(stream.consumer_names())
            .await
            .ok()?;
        (!names.iter().any(|n| n.contains("-replay-"))).then_some(())
    })
    .await;

    // A window with nothing in it, and bad requests.
    let future_until = json!({"since": Utc::now() - chrono::Duration::days(30), "until": Utc::now() - chrono::Duration::days(29)});
    let (s, v) = stack.call(Method::POST, &path, Some(future_until)).await;
    assert_eq!((s, &v), (200, &json!({"replayed": 0})));
    let (s, v) = stack
        .call(
            Method::POST,
            &path,
            Some(json!({"since": Utc::now() + chrono::Duration::hours(1)})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = stack
        .call(
            Method::POST,
            &path,
            Some(json!({"since": since, "event_types": ["click"]})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = stack
        .call(Method::POST, &path, Some(json!({"since": "yesterday"})))
        .await;
    assert!(s == 400 || s == 422);
    let (s, _) = stack
        .call(
            Method::POST,
            "/v1/webhooks/wh_NOPE/replay",
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 404);
    stack.finish().await;
}
