//! Postgres state of webhook-out (`rc` database): webhooks, the attempt log
//! and replays in progress. Runtime-checked queries only (no `query!`), so the
//! crate builds without a database.
//!
//! The `rc` database is webhook-out's alone, so its migrations live in this
//! crate's `migrations/`, embedded at build time by `sqlx::migrate!`
//! (`build.rs` rebuilds the crate when one is added) and applied by
//! [`hookline_core::db::connect`] at start-up and by `hookline migrate`. A
//! file already applied must never change: its checksum is stored in the
//! database.

pub mod attempts;
mod config_webhook;
pub mod keyring;
pub mod replays;
pub mod secrets;
pub mod webhooks;

pub use attempts::{AttemptRow, AttemptWriter};
pub use keyring::Keyring;
pub use webhooks::{NewWebhook, Profile, Webhook, WebhookPatch};

use hookline_core::db::Schema;
use sqlx::migrate::Migrator;

/// The `rc` database's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The `rc` database: [`MIGRATOR`] and the key of its URL.
pub static SCHEMA: Schema = Schema {
    key: "rc.database_url",
    migrator: &MIGRATOR,
};

/// A fresh webhook id: `wh_` + a UUIDv7 in Crockford base32 (sortable by
/// creation time, and free of `.`, `*`, `>` and `-`, so it is safe in NATS
/// subjects and consumer names and easy to split out of `webhook-out-<id>`).
pub fn new_webhook_id() -> String {
    let mut v = uuid::Uuid::now_v7().as_u128();
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    format!("wh_{}", String::from_utf8_lossy(&out))
}

/// Whether `s` looks like a webhook id (checked before it is used in a NATS
/// name or a query).
pub fn is_webhook_id(s: &str) -> bool {
    s.strip_prefix("wh_").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_valid() {
        let id = new_webhook_id();
        assert!(id.starts_with("wh_") && id.len() == 29, "{id}");
        assert!(is_webhook_id(&id));
        assert!(!is_webhook_id("wh_"));
        assert!(!is_webhook_id("wh_a.b"));
        assert!(!is_webhook_id("evt_1"));
    }
}
