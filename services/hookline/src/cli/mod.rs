//! Subcommands that do more than call one service's `run`.

pub mod all;
pub mod lag;
