//! Subcommands that do more than call one service's `run`.

pub mod admin;
pub mod all;
pub mod history;
pub mod lag;
pub mod reencrypt;
