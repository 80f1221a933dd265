//! Operational events: an endpoint disabled (410 Gone) and an event
//! dead-lettered are each delivered, signed with Standard Webhooks, to
//! `webhook_out.ops_webhook_url`; a URL without a secret is refused.

use crate::harness::*;
use hookline_core::signing::Secret;

fn ops_event<'a>(hits: &'a [Hit], kind: &str, webhook: &str) -> Option<&'a Hit> {
    hits.iter()
        .find(|h| h.json()["type"] == kind && h.json()["data"]["webhook_id"] == webhook)
}

#[tokio::test]
async fn disable_and_dead_letters_reach_the_ops_webhook_signed() {
    let ops_rx = Receiver::ok().await;
    let secret = Secret::generate();
    let mut config = config();
    config.webhook_out.ops_webhook_url = Some(ops_rx.url.clone());
    config.webhook_out.ops_webhook_secret = Some(secret.clone());
    let stack = Stack::start(config.clone()).await;
    let gone = Receiver::with(|_| (410, vec![]), false).await;
    let failing = Receiver::with(|_| (500, vec![]), false).await;
    let gone_id = stack.create_id(standard(&gone.url, &["page_view"])).await;
    let failing_id = stack
        .create_id(standard(&failing.url, &["page_view"]))
        .await;
    let event = page_view("c-ops");
    stack.publish(&event).await;

    let hits = eventually("both operational events", 60, || async {
        let hits = ops_rx.hits();
        let both = ops_event(&hits, "endpoint.disabled", &gone_id).is_some()
            && ops_event(&hits, "message.attempt.exhausted", &failing_id).is_some();
        both.then_some(hits)
    })
    .await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let disabled = ops_event(&hits, "endpoint.disabled", &gone_id).unwrap();
    verifier
        .verify(&disabled.body, &disabled.headers)
        .expect("signed with the ops secret");
    assert_eq!(
        disabled.json()["data"]["reason"],
        "endpoint answered 410 Gone"
    );
    assert_eq!(
        disabled.header("webhook-id"),
        disabled.json()["id"].as_str()
    );
    let exhausted = ops_event(&hits, "message.attempt.exhausted", &failing_id).unwrap();
    verifier
        .verify(&exhausted.body, &exhausted.headers)
        .expect("signed with the ops secret");
    let data = &exhausted.json()["data"];
    assert_eq!(data["event_id"], event.id.as_str());
    assert_eq!(data["attempts"], 3);
    assert_eq!(data["last_status"], 500);
    stack.finish().await;
}

#[tokio::test]
async fn an_ops_url_without_a_secret_names_the_key() {
    let mut config = config();
    config.webhook_out.ops_webhook_url = Some("http://127.0.0.1:9/ops".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err =
        webhook_out::run_with_listener(config.clone(), listener, hookline_core::Shutdown::new())
            .await
            .expect_err("refused");
    let key_error = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .find_map(|e| e.downcast_ref::<hookline_core::config::ConfigError>())
        .expect("a ConfigError in the chain");
    assert!(
        key_error
            .to_string()
            .contains("webhook_out.ops_webhook_secret"),
        "{key_error}"
    );
    hookline_core::testing::cleanup(&config).await;
}
