//! The webhook from `crm_webhook.*` exists after start-up, created once.

use crate::harness::*;
use reqwest::Method;

#[tokio::test]
async fn config_webhook_is_created_once() {
    let rx = Receiver::ok().await;
    let mut config = config();
    config.crm_webhook.url = Some(rx.url.clone());
    config.crm_webhook.secret = Some("seed-secret-0123456789".into());
    config.crm_webhook.api_key = Some("seed-key-0123456789".into());

    let stack = Stack::start(config.clone()).await;
    let (_, list) = stack.call(Method::GET, "/v1/webhooks", None).await;
    let list = list["data"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let w = &list[0];
    assert_eq!(
        (w["profile"].as_str(), w["source"].as_str()),
        (Some("rc-legacy"), Some("config"))
    );
    assert_eq!(
        w["events"],
        serde_json::json!(["page_view", "form_submission", "content_published"])
    );
    let id = w["id"].as_str().unwrap().to_string();
    let full = stack.secret(&id).await;
    assert_eq!(full["secret"], "seed-secret-0123456789");
    assert_eq!(full["api_key"], "seed-key-0123456789");

    // It delivers with the legacy Node app's scheme.
    let event = page_view("c1");
    stack.publish(&event).await;
    let hit = rx.wait_for(1, 20).await.remove(0);
    assert_eq!(hit.json()["api_key"], "seed-key-0123456789");
    hookline_core::signing::legacy::verify(
        &[hookline_core::signing::Secret::legacy("seed-secret-0123456789").unwrap()],
        hit.header("x-timestamp"),
        hit.header("x-signature"),
        &hit.body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .unwrap();
    stack.stop().await;

    // Second start-up, and several at once: still one, same id.
    let stack = Stack::start(config.clone()).await;
    let pool = sqlx::PgPool::connect(&config.rc.database_url)
        .await
        .unwrap();
    let keys =
        webhook_out::store::Keyring::from_config(&config.webhook_out.encryption_keys).unwrap();
    let runs = (0..4).map(|_| webhook_out::ensure_config_webhook(&pool, &keys, &config));
    for r in futures::future::join_all(runs).await {
        assert_eq!(r.unwrap().unwrap().id.as_str(), id);
    }
    let (_, list) = stack.call(Method::GET, "/v1/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    stack.stop().await;

    // A new secret in config rotates it (the old one still signs for 24 h).
    let mut changed = config.clone();
    changed.crm_webhook.secret = Some("new-secret-0123456789".into());
    let w = webhook_out::ensure_config_webhook(&pool, &keys, &changed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (w.id.as_str(), w.secret.as_str()),
        (id.as_str(), "new-secret-0123456789")
    );
    assert_eq!(w.previous_secret.as_deref(), Some("seed-secret-0123456789"));
    pool.close().await;
    hookline_core::testing::cleanup(&config).await;
}
