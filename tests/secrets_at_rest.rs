//! Secrets at rest across real processes: webhook-out stores the config
//! webhook's secret and API key sealed; after a new encryption key is put
//! first, `hookline webhooks reencrypt` moves every row under it, and the
//! old key can then be removed without losing a secret.
//!
//! `cargo build -p hookline && cargo test -p hookline-e2e --test secrets_at_rest`.

use hookline_core::testing::random_encryption_key;
use hookline_e2e::stack::{API_KEY, SHARED_SECRET};
use hookline_e2e::{Service, Stack, hookline_bin};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const STOP: Duration = Duration::from_secs(30);

/// `GET /v1/webhooks` then `/secret` of the only webhook (the config one).
async fn config_secret(stack: &Stack) -> Value {
    let (_, list) = stack
        .admin(reqwest::Method::GET, "/v1/webhooks", None)
        .await;
    let text = list.to_string();
    assert!(
        !text.contains(SHARED_SECRET) && !text.contains(API_KEY),
        "{text}"
    );
    let id = list["data"][0]["id"].as_str().expect("config webhook");
    let path = format!("/v1/webhooks/{id}/secret");
    stack.admin(reqwest::Method::GET, &path, None).await.1
}

/// Runs `hookline <args>` with webhook-out's environment; it must end
/// within a minute.
async fn hookline(stack: &Stack, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(hookline_bin());
    command
        .args(args)
        .env_clear()
        .envs(stack.env(Service::WebhookOut))
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let run = tokio::task::spawn_blocking(move || command.output().expect("hookline runs"));
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("hookline {args:?} did not end"))
        .expect("join")
}

/// The stored secret and API key of every webhook, as text.
async fn stored(stack: &Stack) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&stack.config.rc.database_url)
        .await
        .expect("rc database");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT secret, api_key FROM webhooks")
            .fetch_all(&pool)
            .await
            .expect("webhooks");
    pool.close().await;
    rows.into_iter()
        .flat_map(|(s, k)| [Some(s), k])
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reencrypt_moves_secrets_to_the_new_key_and_the_old_one_can_go() {
    let mut stack = Stack::new();
    let old = stack.config.webhook_out.encryption_keys[0].clone();
    stack.start(Service::WebhookOut).await;
    let first = stored(&stack).await;
    assert_eq!(first.len(), 2, "secret and API key of the config webhook");
    for value in &first {
        assert!(
            value.starts_with("v1:") && !value.contains(SHARED_SECRET) && !value.contains(API_KEY)
        );
    }
    assert!(stack.terminate(Service::WebhookOut, STOP).await);

    // Dropping the old key before re-encrypting: exit 2 naming the key.
    let new = random_encryption_key();
    stack.config.webhook_out.encryption_keys = vec![new.clone()];
    let out = hookline(&stack, &["webhook-out"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("webhook_out.encryption_keys"), "{stderr}");

    // A new key first, the old one after it.
    stack.config.webhook_out.encryption_keys = vec![new.clone(), old];
    let out = hookline(&stack, &["webhooks", "reencrypt"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-encrypted 1 webhook"), "{stdout}");
    let second = stored(&stack).await;
    assert!(
        second.iter().all(|v| !first.contains(v)),
        "every value rewritten"
    );

    // The old key removed: the secret still opens.
    stack.config.webhook_out.encryption_keys = vec![new];
    stack.start(Service::WebhookOut).await;
    let opened = config_secret(&stack).await;
    assert_eq!(opened["secret"], SHARED_SECRET);
    assert_eq!(opened["api_key"], API_KEY);
    stack.cleanup().await;
}
