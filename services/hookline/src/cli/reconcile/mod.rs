//! `hookline reconcile`: the CRM side checks, hour by hour, that it has
//! every unique event the RC has, through the RC edge's `GET
//! /api/health-sync` (`reconcile.rc_url`, bearer `reconcile.api_key`).
//!
//! It reports the ids missing on the CRM side and those the CRM has that
//! the RC does not know; `--repair` re-delivers exactly the missing ones
//! through webhook-out (`reconcile.webhook_id`, admin API as `hookline
//! webhooks` finds it) and waits for them to arrive; `--every 24h` keeps
//! running and exports the result as metrics on `ops.listen`.
//!
//! Exit status: 0 when nothing is missing (after `--repair`, nothing is
//! still missing), 1 when events are missing or the comparison failed (a
//! range past RC_EVENTS' retention among others), 2 for configuration.

mod compare;
mod every;
mod repair;

use super::client::{Client, Conn};
use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use clap::Args;
use compare::{Rc, Report};
use hookline_core::config::ConfigError;
use hookline_core::config::parse_duration;
use hookline_core::db;
use hookline_core::{Config, WebhookId};
use sqlx::PgPool;
use std::time::Duration;

/// `hookline reconcile …`.
#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// How far back to compare, e.g. 24h (at most 7 days, and inside
    /// RC_EVENTS' retention).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    since: Duration,
    /// Leave out the newest stretch, whose events may still be on their way
    /// (keep it above nats.duplicate_window, or a resend is dropped as a
    /// duplicate).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    settle: Duration,
    /// Re-deliver the missing events through `reconcile.webhook_id`.
    #[arg(long)]
    repair: bool,
    /// With --repair: how long to wait for the resent events to arrive.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    wait: Duration,
    /// Print JSON: {"missing": [...], "extra": [...], …}.
    #[arg(long)]
    json: bool,
    /// Run again every interval until stopped, exporting the result as
    /// metrics on ops.listen (the nightly job).
    #[arg(long, value_parser = parse_duration)]
    every: Option<Duration>,
    #[command(flatten)]
    conn: Conn,
}

/// Everything one run needs, set up once.
struct Reconciler {
    rc: Rc,
    pool: PgPool,
    admin: Option<(Client, WebhookId)>,
    since: TimeDelta,
    settle: TimeDelta,
    wait: Duration,
}

/// Runs `hookline reconcile`.
pub async fn run(args: ReconcileArgs, config: &Config) -> anyhow::Result<()> {
    config.require_reconcile_secrets()?;
    let admin = if args.repair {
        Some((Client::new(&args.conn, config)?, repair_webhook(config)?))
    } else {
        None
    };
    let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 2)
        .await
        .context("connecting to crm.database_url")?;
    let r = Reconciler {
        rc: Rc {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
            base: config
                .reconcile
                .rc_url
                .clone()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            key: config.reconcile.api_key.clone().unwrap_or_default(),
        },
        pool,
        admin,
        since: TimeDelta::from_std(args.since).context("--since is too long")?,
        settle: TimeDelta::from_std(args.settle).context("--settle is too long")?,
        wait: args.wait,
    };
    if let Some(interval) = args.every {
        return every::run(r, interval, config).await;
    }
    let report = r.once().await?;
    print(&report, args.json)?;
    if report.remaining() > 0 {
        std::process::exit(1);
    }
    Ok(())
}

impl Reconciler {
    /// One comparison (and repair).
    async fn once(&self) -> anyhow::Result<Report> {
        let now = Utc::now();
        let (from, to) = (now - self.since, now - self.settle);
        if to <= from {
            bail!("--settle must be shorter than --since");
        }
        let mut report = compare::compare(&self.rc, &self.pool, from, to).await?;
        if let Some((client, webhook)) = &self.admin {
            let sent = repair::resend(client, webhook, &report.missing).await?;
            let absent = repair::wait_back(&self.pool, &report.missing, self.wait).await?;
            report.repaired = Some(sent);
            report.still_missing = Some(absent);
        }
        Ok(report)
    }
}

impl Report {
    /// Missing ids left after this run (after the repair, with `--repair`).
    fn remaining(&self) -> usize {
        self.still_missing
            .as_ref()
            .map_or(self.missing.len(), Vec::len)
    }
}

/// The webhook `--repair` resends through: `reconcile.webhook_id`, which
/// must be set and be a webhook id.
fn repair_webhook(config: &Config) -> Result<WebhookId, ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        key: "reconcile.webhook_id",
        message: message.into(),
    };
    let Some(id) = config.reconcile.webhook_id.as_deref() else {
        return Err(invalid(
            "is missing: --repair resends through the webhook that delivers to this CRM (wh_…)",
        ));
    };
    WebhookId::parse(id).map_err(|_| invalid("must be a webhook id (wh_…)"))
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "compared {} .. {}: {} hour×type buckets, {} differ",
        report.from.to_rfc3339(),
        report.to.to_rfc3339(),
        report.buckets,
        report.differing.len()
    );
    println!("missing on the CRM side: {}", report.missing.len());
    for id in &report.missing {
        println!("  {id}");
    }
    println!("unknown to the RC (extra): {}", report.extra.len());
    for id in &report.extra {
        println!("  {id}");
    }
    if let (Some(repaired), Some(still)) = (&report.repaired, &report.still_missing) {
        println!(
            "resent: {}, back in the CRM: {}, still missing: {}",
            repaired.len(),
            report.missing.len() - still.len(),
            still.len()
        );
    }
    Ok(())
}
