//! Secrets at rest, against the real Postgres: the columns hold no
//! plaintext, an old key still opens after the keys rotate,
//! `reencrypt` moves every row to the first key, and rows written before
//! encryption are sealed at start-up.

use crate::harness::*;
use hookline_core::testing::random_encryption_key;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use webhook_out::store::{Keyring, secrets, webhooks};

/// The stored secret columns of one row, and its marker.
async fn raw(pool: &PgPool, id: &str) -> (String, Option<String>, Option<String>, bool) {
    sqlx::query_as(
        "SELECT secret, previous_secret, api_key, secrets_sealed FROM webhooks WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn columns_hold_no_plaintext_and_only_the_secret_route_shows_it() {
    let config = config();
    let stack = Stack::start(config.clone()).await;
    let rx = Receiver::ok().await;
    let (plain, api_key) = ("legacy-plain-secret-7f3a", "legacy-api-key-in-body-9c2e");
    let created = stack
        .create(
            json!({"url": rx.url, "events": ["page_view"], "profile": "rc-legacy",
                       "secret": plain, "api_key": api_key}),
        )
        .await;
    assert_eq!(created["secret"], plain, "create shows the secret once");
    let id = created["id"].as_str().unwrap().to_string();
    let rotated = stack.rotate(&id).await;
    let new = rotated["secret"].as_str().unwrap().to_string();

    let pool = PgPool::connect(&config.rc.database_url).await.unwrap();
    let (secret, previous, key, sealed) = raw(&pool, &id).await;
    assert!(sealed);
    let table: Vec<String> = sqlx::query_scalar("SELECT w::text FROM webhooks w")
        .fetch_all(&pool)
        .await
        .unwrap();
    let base64_body = new.trim_start_matches("whsec_");
    for stored in table
        .iter()
        .chain([&secret, &previous.unwrap(), &key.unwrap()])
    {
        for needle in [plain, api_key, base64_body] {
            assert!(!stored.contains(needle), "plaintext in Postgres: {stored}");
        }
    }

    // Get, list and update hide it; the secret route shows all three.
    let (_, list) = stack.call(Method::GET, "/v1/webhooks", None).await;
    let (_, patched) = stack
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"description": "crm"})),
        )
        .await;
    for shown in [stack.webhook(&id).await, list, patched] {
        let text = shown.to_string();
        assert!(!text.contains(&new) && !text.contains(api_key), "{text}");
    }
    let opened = stack.secret(&id).await;
    assert_eq!(
        (
            &opened["secret"],
            &opened["previous_secret"],
            &opened["api_key"]
        ),
        (&json!(new), &json!(plain), &json!(api_key))
    );

    // Debug of the in-memory row hides them too.
    let keys = Keyring::from_config(&config.webhook_out.encryption_keys).unwrap();
    let row = webhooks::get(&pool, &keys, &id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let debug = format!("{row:?}");
    assert!(debug.contains(&id) && !debug.contains(&new) && !debug.contains(api_key));
    pool.close().await;
    stack.finish().await;
}

#[tokio::test]
async fn old_keys_still_open_and_reencrypt_moves_rows_to_the_first_key() {
    let config = config();
    let stack = Stack::start(config.clone()).await;
    let rx = Receiver::ok().await;
    let created = stack.create(standard(&rx.url, &["page_view"])).await;
    let (id, secret) = (created["id"].as_str().unwrap(), created["secret"].clone());
    stack.stop().await;

    // A new key goes first; the old one still opens what it sealed.
    let mut rotated = config.clone();
    let old = config.webhook_out.encryption_keys[0].clone();
    rotated.webhook_out.encryption_keys = vec![random_encryption_key(), old];
    let stack = Stack::start(rotated.clone()).await;
    assert_eq!(stack.secret(id).await["secret"], secret);
    stack.stop().await;

    let pool = PgPool::connect(&config.rc.database_url).await.unwrap();
    let keys = Keyring::from_config(&rotated.webhook_out.encryption_keys).unwrap();
    assert!(!keys.is_current(&raw(&pool, id).await.0));
    assert_eq!(secrets::reencrypt(&pool, &keys).await.unwrap(), 1);
    assert!(keys.is_current(&raw(&pool, id).await.0));
    assert_eq!(
        secrets::reencrypt(&pool, &keys).await.unwrap(),
        0,
        "idempotent"
    );

    // The old key can go now.
    let mut new_only = rotated.clone();
    new_only.webhook_out.encryption_keys.truncate(1);
    let stack = Stack::start(new_only).await;
    assert_eq!(stack.secret(id).await["secret"], secret);
    stack.stop().await;
    pool.close().await;
    hookline_core::testing::cleanup(&config).await;
}

#[tokio::test]
async fn plaintext_rows_from_before_encryption_are_sealed_at_start_up() {
    let config = config();
    Stack::start(config.clone()).await.stop().await;
    let pool = PgPool::connect(&config.rc.database_url).await.unwrap();
    // A row as written before encryption: plaintext, marked unsealed (the
    // migration's default).
    let (id, plain, api_key) = (
        "wh_PLAINTEXT",
        "an-old-plaintext-secret",
        "an-old-api-key-value",
    );
    sqlx::query(
        "INSERT INTO webhooks (id, url, events, profile, secret, previous_secret, api_key) \
         VALUES ($1, 'https://crm.example/hook', '{page_view}', 'rc-legacy', $2, $2, $3)",
    )
    .bind(id)
    .bind(plain)
    .bind(api_key)
    .execute(&pool)
    .await
    .unwrap();
    assert!(!raw(&pool, id).await.3);

    let stack = Stack::start(config.clone()).await;
    let (secret, previous, key, sealed) = raw(&pool, id).await;
    assert!(sealed, "sealed at start-up");
    for stored in [secret, previous.unwrap(), key.unwrap()] {
        assert!(stored.starts_with("v1:") && !stored.contains(plain) && !stored.contains(api_key));
    }
    let opened = stack.secret(id).await;
    assert_eq!(
        (&opened["secret"], &opened["api_key"]),
        (&json!(plain), &json!(api_key))
    );
    stack.stop().await;
    pool.close().await;
    hookline_core::testing::cleanup(&config).await;
}
