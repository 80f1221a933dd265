//! The CRM database (`crm.database_url`): its tables belong to the consumers
//! here (`processed_events` of the runner, each consumer's own), so its
//! migrations live in this crate's `migrations/`.
//!
//! `sqlx::migrate!` embeds them at build time (`build.rs` rebuilds the crate
//! when one is added). [`hookline_core::db::connect`] applies them when a
//! service connects (crm-consumers, actions, the CLI's CRM commands) and
//! `hookline migrate` applies them up front; a file already applied must
//! never change, since its checksum is stored in the database.

use hookline_core::db::Schema;
use sqlx::migrate::Migrator;

/// The CRM database's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The CRM database: [`MIGRATOR`] and the key of its URL.
pub static SCHEMA: Schema = Schema {
    key: "crm.database_url",
    migrator: &MIGRATOR,
};
