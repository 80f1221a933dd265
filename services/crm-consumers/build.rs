//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the
//! files of `migrations/` but only tracks those that existed at the last
//! build, so a new one would otherwise be missed until some source changed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
