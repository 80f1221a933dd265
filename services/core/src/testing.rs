//! Isolation for tests against the real NATS and Postgres: a fresh prefix,
//! fresh databases, and a clean-up that removes them.

use crate::config::Config;
use crate::nats::{self, Nats};

/// A config whose NATS prefix and database names are unique to one test,
/// with every listener on an ephemeral port.
pub fn isolated_config() -> Config {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 12..];
    let mut config = Config::default();
    config.nats.prefix = format!("t{tag}");
    if let Ok(url) = std::env::var("HOOKLINE_TEST_NATS_URL") {
        config.nats.url = url;
    }
    let server = std::env::var("HOOKLINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
    config.rc.database_url = format!("{server}/hookline_test_{tag}_rc");
    config.crm.database_url = format!("{server}/hookline_test_{tag}_crm");
    for addr in [
        &mut config.edge.listen,
        &mut config.webhook_out.listen,
        &mut config.ingest.listen,
        &mut config.ops.listen,
    ] {
        *addr = "127.0.0.1:0".parse().expect("valid");
    }
    config.webhook_out.allow_private_networks = true;
    config.edge.rate_limit_per_second = 0;
    // Every service refuses to start without its secrets: fresh random ones
    // per test, long enough to pass the start-up checks.
    config.edge.fingerprint_secret = Some(format!("test-fingerprint-{tag}"));
    config.webhook_out.admin_token = Some(format!("test-admin-token-{tag}"));
    config.webhook_out.encryption_keys = vec![random_encryption_key()];
    config.ingest.secrets = vec![crate::signing::Secret::generate()];
    config
}

/// A fresh `webhook_out.encryption_keys` entry: base64 of 32 random bytes.
pub fn random_encryption_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Removes every stream, bucket and database an isolated config created.
pub async fn cleanup(config: &Config) {
    if let Ok(n) = Nats::connect(&config.nats).await {
        nats::delete_all(&n, config).await;
    }
    for url in [&config.rc.database_url, &config.crm.database_url] {
        if let Err(e) = crate::db::drop_database(url).await {
            tracing::warn!(error = %e, "could not drop test database");
        }
    }
}

/// Every message `base` (an unprefixed stream name) holds, oldest first;
/// none when the stream does not exist. For tests that check what a service
/// published.
pub async fn stored(nats: &Nats, base: &str) -> Vec<async_nats::jetstream::message::StreamMessage> {
    let Ok(mut stream) = nats.js.get_stream(nats.names.stream(base)).await else {
        return Vec::new();
    };
    let state = stream.info().await.expect("stream info").state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(m);
        }
    }
    out
}
