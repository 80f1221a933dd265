//! `hookline dlq …`: the dead letters of `RC_DLQ` and `CRM_DLQ`, read and
//! acted on straight through NATS (the same functions as webhook-out's
//! `/v1/dlq`), so it works on a stack with only the CRM side too.

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use hookline_core::dlq_admin::redrive::{self, KnownWebhooks};
use hookline_core::dlq_admin::select::{Selection, parse_since};
use hookline_core::dlq_admin::{self, Entry, Filter, Side};
use hookline_core::nats::Nats;
use hookline_core::{Config, db};
use std::time::Duration;

/// `hookline dlq …`.
#[derive(Subcommand, Debug)]
pub enum DlqCmd {
    /// List dead letters, oldest first.
    List {
        /// `rc` (RC_DLQ) or `crm` (CRM_DLQ); both by default.
        #[arg(long, value_parser = parse_side)]
        stream: Option<Side>,
        /// One consumer name or webhook id.
        #[arg(long)]
        consumer: Option<String>,
        /// Only newer entries: a duration (`2h`) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry with its body (JSON).
    Show {
        /// `12`, `rc:12` or `crm:12`.
        entry: String,
        /// The stream of a bare sequence.
        #[arg(long, value_parser = parse_side)]
        stream: Option<Side>,
    },
    /// Hand entries back to the consumer or webhook that gave up on them.
    Redrive(SelectArgs),
    /// Delete entries.
    Purge(SelectArgs),
}

/// Which entries `redrive` and `purge` act on.
#[derive(Args, Debug)]
pub struct SelectArgs {
    /// Entries: `12`, `rc:12`, `crm:12`.
    entries: Vec<String>,
    /// Every entry (of --stream and --consumer when given).
    #[arg(long)]
    all: bool,
    /// `rc` or `crm`: the stream of bare sequences, or what --all covers.
    #[arg(long, value_parser = parse_side)]
    stream: Option<Side>,
    /// One consumer name or webhook id (alone: all of its entries).
    #[arg(long)]
    consumer: Option<String>,
    /// Say what would be redriven; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_side(s: &str) -> Result<Side, String> {
    Side::parse(s).ok_or_else(|| format!("{s:?}: expected rc or crm"))
}

/// Runs `hookline dlq …`.
pub async fn run(cmd: DlqCmd, config: &Config) -> anyhow::Result<()> {
    let nats = Nats::connect(&config.nats).await?;
    let (js, names) = (&nats.js, &nats.names);
    match cmd {
        DlqCmd::List {
            stream,
            consumer,
            since,
            limit,
            json,
        } => {
            let filter = Filter {
                side: stream,
                consumer,
                since: since
                    .as_deref()
                    .map(|s| parse_since(s, Utc::now()))
                    .transpose()?,
                limit,
            };
            let entries = dlq_admin::list(js, names, &filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", table(&entries));
            }
        }
        DlqCmd::Show { entry, stream } => {
            let (side, seq) = dlq_admin::parse_ref(&entry)?;
            let entry = dlq_admin::show(js, names, side.or(stream), seq).await?;
            println!("{}", serde_json::to_string_pretty(&entry)?);
        }
        DlqCmd::Redrive(args) => {
            let json = args.json;
            let sel = selection(args);
            let refs = sel.refs(js, names).await?;
            let known = known_webhooks(config).await;
            let results = redrive::redrive(js, names, &refs, &known, sel.dry_run).await;
            let failed = results.iter().filter(|r| r.status == "failed").count();
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                for r in &results {
                    let to = r.target.as_deref().unwrap_or("-");
                    let why = r.error.as_deref().unwrap_or("");
                    println!("{}\t{}\t{}\t{to}\t{why}", r.id, r.consumer, r.status);
                }
            }
            if failed > 0 {
                bail!("{failed} of {} entries were not redriven", results.len());
            }
        }
        DlqCmd::Purge(args) => {
            let sel = selection(args);
            let purged = if sel.all && sel.entries.is_empty() {
                redrive::purge_all(js, names, sel.stream, sel.consumer.as_deref()).await?
            } else {
                let refs = sel.refs(js, names).await?;
                redrive::purge(js, names, &refs).await?.len() as u64
            };
            println!("purged {purged}");
        }
    }
    Ok(())
}

fn selection(a: SelectArgs) -> Selection {
    Selection {
        entries: a.entries,
        all: a.all,
        stream: a.stream,
        consumer: a.consumer,
        dry_run: a.dry_run,
    }
}

/// The webhooks that still exist, when the `rc` database answers; a
/// CRM-only stack has none to check against.
async fn known_webhooks(config: &Config) -> KnownWebhooks {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&config.rc.database_url)
        .await
        .with_context(|| format!("connecting to {}", db::redact(&config.rc.database_url)));
    let ids = match pool {
        Ok(pool) => webhook_out::store::webhooks::ids(&pool)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match ids {
        Ok(ids) => Some(ids.into_iter().collect()),
        Err(e) => {
            eprintln!(
                "hookline: cannot check which webhooks exist ({e:#}); redriving without that check"
            );
            None
        }
    }
}

fn table(entries: &[Entry]) -> String {
    let mut out = String::from("ENTRY\tCONSUMER\tEVENT\tATTEMPTS\tFAILED AT\tERROR\n");
    for e in entries {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            e.id,
            e.consumer,
            e.event_id.as_deref().unwrap_or("-"),
            e.attempts
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            e.failed_at.as_deref().unwrap_or("-"),
            e.error.as_deref().unwrap_or("-"),
        ));
    }
    out
}
