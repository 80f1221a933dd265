//! `hookline webhooks reencrypt`: moves every stored webhook secret and API
//! key under the first key of `webhook_out.encryption_keys`.
//!
//! Key rotation: put a new key first (keep the old one after it), restart
//! webhook-out, run this, then remove the old key. It works on Postgres
//! directly (not through the admin API), so it needs `rc.database_url` and
//! the same keys as the service, and may run while webhook-out does: rows
//! are locked while they are rewritten, and a second run changes nothing.

use anyhow::Context;
use hookline_core::Config;
use hookline_core::db;
use webhook_out::store::{Keyring, secrets};

/// Runs the command; prints how many rows were rewritten.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let keys = Keyring::from_config(&config.webhook_out.encryption_keys)?;
    let pool = db::connect(&config.rc.database_url, webhook_out::store::SCHEMA, 2).await?;
    let rewritten = secrets::reencrypt(&pool, &keys)
        .await
        .context("re-encrypting webhook secrets")?;
    pool.close().await;
    println!(
        "re-encrypted {rewritten} webhook(s) under key {}",
        keys.current_id()
    );
    Ok(())
}
