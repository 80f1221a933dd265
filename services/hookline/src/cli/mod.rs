//! Subcommands that do more than call one service's `run`.

pub mod admin;
pub mod all;
pub mod client;
pub mod dlq;
pub mod history;
pub mod lag;
pub mod reconcile;
pub mod reencrypt;
pub mod tasks;
pub mod trace;
