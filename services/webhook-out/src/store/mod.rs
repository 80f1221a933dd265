//! Postgres state of webhook-out (`rc` database): webhooks, the attempt log
//! and replays in progress. Runtime-checked queries only (no `query!`), so the
//! crate builds without a database.

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
