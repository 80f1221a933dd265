//! SSRF closed by default: the config webhook may reach a private address
//! (the operator wrote it); webhooks created through the API reach private
//! ranges only where `webhook_out.allowed_networks` lists them; credentials
//! inside a URL never show in listings.

use crate::harness::*;
use reqwest::Method;

/// A config with the guard closed, as in production.
fn closed() -> hookline_core::Config {
    let mut config = config();
    config.webhook_out.allow_private_networks = false;
    config
}

#[tokio::test]
async fn config_webhook_reaches_a_private_address_api_webhooks_do_not() {
    let rx = Receiver::ok().await;
    let mut config = closed();
    config.crm_webhook.url = Some(rx.url.clone());
    config.crm_webhook.secret = Some("config-shared-secret-0123".into());
    let stack = Stack::start(config.clone()).await;

    // Through the API, the same loopback receiver is refused.
    let (s, v) = stack
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(standard(&rx.url, &["page_view"])),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("loopback"), "{v}");

    // The config webhook delivers there.
    stack.publish(&page_view("ssrf-config")).await;
    let hits = rx.wait_for(1, 30).await;
    assert_eq!(hits[0].json()["event"], "page_view");
    stack.finish().await;
}

#[tokio::test]
async fn allowed_networks_open_only_the_listed_ranges() {
    let rx = Receiver::ok().await;
    let mut config = closed();
    config.webhook_out.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    let stack = Stack::start(config.clone()).await;

    // Listed: created, and delivered to (the connect-time check agrees).
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    stack.publish(&page_view("ssrf-allowed")).await;
    rx.wait_for(1, 30).await;
    let page = eventually("a logged success", 20, || async {
        let v = stack.deliveries(&id, "").await;
        (v["data"][0]["success"] == true).then_some(v)
    })
    .await;
    assert_eq!(page["data"][0]["status_code"], 200);

    // Not listed: still refused, however it is written.
    for url in [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:0:7f00:1]/",
    ] {
        stack.refused_target(url).await;
    }
    stack.finish().await;
}

#[tokio::test]
async fn credentials_in_a_url_are_hidden_from_listings() {
    let rx = Receiver::ok().await;
    let stack = Stack::start(config()).await;
    let url = format!("http://crm:hunter2-pass@127.0.0.1:{}/hook", rx.port);
    let created = stack.create(standard(&url, &["page_view"])).await;
    let id = created["id"].as_str().unwrap().to_string();
    let (_, list) = stack.call(Method::GET, "/v1/webhooks", None).await;
    let (_, one) = stack
        .call(Method::GET, &format!("/v1/webhooks/{id}"), None)
        .await;
    for shown in [&created, &list["data"][0], &one] {
        let text = shown.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("***:***@127.0.0.1"), "{text}");
    }
    // Deliveries still use the URL as written, credentials included.
    stack.publish(&page_view("ssrf-creds")).await;
    let hit = rx.wait_for(1, 30).await.remove(0);
    assert!(
        hit.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
    stack.finish().await;
}
