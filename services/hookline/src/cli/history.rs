//! `hookline deliveries …` and `hookline replay …`: a webhook's attempt log
//! and re-delivery of a time window, through the admin API.

use super::client::{Client, Conn, print, s};
use chrono::{DateTime, Utc};
use clap::Args;
use hookline_core::{Config, WebhookId};
use serde_json::json;

/// `hookline deliveries <id>`.
#[derive(Args, Debug)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    conn: Conn,
    /// Webhook id (wh_…).
    id: WebhookId,
    /// `success`, `failure` or `exhausted`.
    #[arg(long)]
    status: Option<String>,
    /// Page size (1–250).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// `next_cursor` of a previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `hookline replay <id> --since …`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    conn: Conn,
    /// Webhook id (wh_…).
    id: WebhookId,
    /// Start: RFC 3339 (2026-10-13T07:00:00Z) or an age (2h, 30m).
    #[arg(long)]
    since: String,
    /// End: RFC 3339 or an age (default: now).
    #[arg(long)]
    until: Option<String>,
    /// Only these types, comma-separated.
    #[arg(long, value_delimiter = ',')]
    event_types: Option<Vec<String>>,
}

/// Runs `hookline deliveries <id>`.
pub async fn deliveries(args: DeliveriesArgs, config: &Config) -> anyhow::Result<()> {
    let mut query = format!("limit={}", args.limit);
    if let Some(st) = &args.status {
        query.push_str(&format!("&status={st}"));
    }
    if let Some(c) = &args.cursor {
        query.push_str(&format!("&cursor={c}"));
    }
    let path = format!("/v1/webhooks/{}/deliveries?{query}", args.id);
    let v = Client::new(&args.conn, config)?
        .call(reqwest::Method::GET, &path, None)
        .await?;
    if args.json {
        print(&v);
        return Ok(());
    }
    println!(
        "{:<26} {:<32} {:<16} {:>3} {:>6} {:>7} ERROR",
        "ATTEMPTED AT", "EVENT ID", "EVENT", "#", "STATUS", "MS"
    );
    for a in v["data"].as_array().into_iter().flatten() {
        let mut err = s(&a["error"]);
        if a["exhausted"] == true {
            err = format!("EXHAUSTED (dead-lettered): {err}");
        }
        println!(
            "{:<26} {:<32} {:<16} {:>3} {:>6} {:>7} {}",
            s(&a["attempted_at"]),
            s(&a["event_id"]),
            s(&a["event"]),
            s(&a["attempt"]),
            s(&a["status_code"]),
            s(&a["duration_ms"]),
            err
        );
    }
    if let Some(c) = v["next_cursor"].as_str() {
        println!("more: --cursor {c}");
    }
    Ok(())
}

/// An RFC 3339 time, or an age like `2h` meaning that long ago.
fn when(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = hookline_core::config::parse_duration(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Utc::now() - chrono::Duration::from_std(age)?)
}

/// Runs `hookline replay <id> --since …`.
pub async fn replay(args: ReplayArgs, config: &Config) -> anyhow::Result<()> {
    let mut body = json!({"since": when(&args.since)?});
    if let Some(u) = &args.until {
        body["until"] = json!(when(u)?);
    }
    if let Some(t) = args.event_types {
        body["event_types"] = json!(t);
    }
    let path = format!("/v1/webhooks/{}/replay", args.id);
    let v = Client::new(&args.conn, config)?
        .call(reqwest::Method::POST, &path, Some(body))
        .await?;
    println!("replaying {} events to {}", s(&v["replayed"]), args.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let t = when("2026-10-13T07:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-13T07:00:00+00:00");
        let ago = Utc::now() - when("2h").unwrap();
        assert!(ago >= chrono::Duration::minutes(119) && ago <= chrono::Duration::minutes(121));
        assert!(when("yesterday-ish").is_err());
    }
}
