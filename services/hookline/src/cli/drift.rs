//! `hookline drift [--json]`: page views and forms that saw a content
//! version the CRM's catalog does not hold, read directly from the CRM
//! database (like `hookline tasks`, it needs no running service).

use anyhow::Context;
use clap::Args;
use crm_consumers::drift;
use hookline_core::Config;
use hookline_core::db;

/// `hookline drift`.
#[derive(Args, Debug)]
pub struct DriftArgs {
    /// At most this many rows, most recently seen first.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON (an array of rows) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists `content_drift` from `crm.database_url`.
pub async fn run(args: DriftArgs, config: &Config) -> anyhow::Result<()> {
    let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 2)
        .await
        .context("connecting to crm.database_url")?;
    let rows = drift::list(&pool, args.limit.clamp(1, 10_000)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no content drift");
        return Ok(());
    }
    println!(
        "{:<9} {:<24} {:<12} {:<12} {:>6}  {:<20} {:<20} SLUG",
        "TYPE", "CONTENT", "EXPECTED", "SEEN", "COUNT", "FIRST SEEN", "LAST SEEN"
    );
    let short = |s: &str| s.chars().take(12).collect::<String>();
    for r in rows {
        println!(
            "{:<9} {:<24} {:<12} {:<12} {:>6}  {:<20} {:<20} {}{}",
            r.content_type,
            r.content_id,
            short(&r.expected),
            short(&r.seen),
            r.count,
            r.first_seen.format("%Y-%m-%d %H:%M:%S"),
            r.last_seen.format("%Y-%m-%d %H:%M:%S"),
            r.slug.unwrap_or_default(),
            if r.current {
                ""
            } else {
                " (announced again since)"
            }
        );
    }
    Ok(())
}
