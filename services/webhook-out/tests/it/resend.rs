//! Resend: one event of RC_EVENTS delivered to one webhook now, logged as
//! the next attempt; unknown or malformed ids are refused clearly.

use crate::harness::*;
use hookline_core::EventId;
use reqwest::Method;

#[tokio::test]
async fn resend_delivers_one_event_to_one_webhook_now() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::ok().await;
    let other = Receiver::ok().await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    stack.create(standard(&other.url, &["page_view"])).await;
    let event = page_view("c-resend");
    stack.publish(&event).await;
    rx.wait_for(1, 30).await;
    other.wait_for(1, 30).await;

    let path = format!("/v1/webhooks/{id}/resend/{}", event.id);
    let (status, v) = stack.call(Method::POST, &path, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["event_id"], event.id.as_str());
    let hits = rx.wait_for(2, 30).await;
    assert_eq!(hits[1].header("webhook-id"), Some(event.id.as_str()));
    assert_eq!(hits[1].json()["id"], event.id.as_str());
    let page = eventually("the resend in the log", 30, || async {
        let v = stack.deliveries(&id, "").await;
        (v["data"].as_array().unwrap().len() == 2).then_some(v)
    })
    .await;
    assert_eq!(page["data"][0]["attempt"], 2, "logged as the next attempt");
    assert_eq!(page["data"][0]["event_id"], event.id.as_str());
    assert_eq!(other.count(), 1, "no other webhook got it again");

    let unknown = format!("/v1/webhooks/{id}/resend/{}", EventId::new());
    let (status, v) = stack.call(Method::POST, &unknown, None).await;
    assert_eq!(status, 404, "{v}");
    assert!(v["message"].as_str().unwrap().contains("not in RC_EVENTS"));
    let bad = format!("/v1/webhooks/{id}/resend/nope");
    assert_eq!(stack.call(Method::POST, &bad, None).await.0, 400);
    let no_webhook = format!(
        "/v1/webhooks/wh_00000000000000000000000000/resend/{}",
        event.id
    );
    assert_eq!(stack.call(Method::POST, &no_webhook, None).await.0, 404);
    stack.finish().await;
}
