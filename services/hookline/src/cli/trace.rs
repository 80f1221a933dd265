//! `hookline trace EVENT_ID`: where one event went, hop by hop. Reads NATS
//! and both databases directly (the same code as `GET /v1/events/{id}`);
//! a database out of reach is reported as a blind spot, not an error.

use clap::Args;
use hookline_core::nats::Nats;
use hookline_core::{Config, db};
use sqlx::PgPool;
use std::fmt::Write;
use std::time::Duration;
use webhook_out::trace::{self, Sources, Trace, Unreachable};

/// Arguments of `hookline trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The event id (evt_…).
    event_id: String,
    /// Print JSON (keys id, type, edge, dedupe, deliveries, crm, dead_letters).
    #[arg(long)]
    json: bool,
}

async fn pool(url: &str, key: &'static str) -> Result<PgPool, Unreachable> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .map_err(|source| Unreachable::Connect {
            key,
            url: db::redact(url),
            source,
        })
}

/// Runs `hookline trace`.
pub async fn run(config: &Config, args: TraceArgs) -> anyhow::Result<()> {
    let nats = Nats::connect(&config.nats).await?;
    let rc = pool(&config.rc.database_url, "rc.database_url").await;
    let crm = pool(&config.crm.database_url, "crm.database_url").await;
    let src = Sources {
        js: &nats.js,
        names: &nats.names,
        rc: rc.as_ref(),
        crm: crm.as_ref(),
    };
    let t = trace::trace(&src, &args.event_id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!("{}", text(&t));
    }
    Ok(())
}

fn text(t: &Trace) -> String {
    let mut o = String::new();
    let kind = t.kind.as_deref().unwrap_or("?");
    let _ = writeln!(o, "{} ({kind}), minted {}", t.id, t.minted_at);
    match &t.edge {
        Some(s) => writeln!(o, "  edge      accepted {} (RC_RAW #{})", s.at, s.seq),
        None => writeln!(o, "  edge      not in RC_RAW"),
    }
    .ok();
    let dup = t
        .dedupe
        .duplicate_of
        .as_deref()
        .map(|d| format!(" of {d}"))
        .unwrap_or_default();
    let note = t
        .dedupe
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let _ = writeln!(o, "  dedupe    {}{dup}{note}", t.dedupe.verdict);
    if let Some(s) = &t.rc_events {
        let _ = writeln!(o, "  forwarded {} (RC_EVENTS #{})", s.at, s.seq);
    }
    for d in &t.deliveries {
        let _ = writeln!(
            o,
            "  webhook   {} {} ({} attempts)",
            d.webhook,
            d.status,
            d.attempts.len()
        );
        for a in &d.attempts {
            let code = a
                .status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into());
            let err = a.error.as_deref().unwrap_or("");
            let _ = writeln!(
                o,
                "            #{} {} {code} {}ms {err}",
                a.attempt, a.attempted_at, a.duration_ms
            );
        }
    }
    match &t.crm.ingested {
        Some(s) => writeln!(o, "  ingested  {} (CRM_EVENTS #{})", s.at, s.seq),
        None => writeln!(o, "  ingested  not in CRM_EVENTS"),
    }
    .ok();
    for c in &t.crm.consumers {
        let at = c
            .processed_at
            .map(|t| t.to_string())
            .unwrap_or_else(|| "not yet".into());
        let _ = writeln!(o, "  consumer  {} {at}", c.name);
    }
    for e in &t.dead_letters {
        let err = e.error.as_deref().unwrap_or("");
        let _ = writeln!(o, "  DEAD      {} by {}: {err}", e.id, e.consumer);
    }
    for b in &t.blind_spots {
        let _ = writeln!(o, "  cannot see {b}");
    }
    o
}
