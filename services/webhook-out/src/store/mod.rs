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

pub use hookline_core::WebhookId;

use hookline_core::db::Schema;
use sqlx::migrate::Migrator;

/// The `rc` database's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The `rc` database: [`MIGRATOR`] and the key of its URL.
pub static SCHEMA: Schema = Schema {
    key: "rc.database_url",
    migrator: &MIGRATOR,
};
