//! `hookline reconcile --every 24h`: the nightly reconciliation as a
//! long-running process. Each run's result becomes gauges on `ops.listen`
//! (`/metrics`, with `/healthz` and `/readyz`), which the shipped alert
//! rules read: events missing on the CRM side, and a last run that is too
//! old (the process stopped, or its runs fail).

use super::Reconciler;
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown};
use metrics::{describe_counter, describe_gauge, gauge};
use std::time::Duration;

/// Runs a reconciliation now and then every `interval` until SIGTERM.
pub async fn run(r: Reconciler, interval: Duration, config: &Config) -> anyhow::Result<()> {
    hookline_core::telemetry::prometheus();
    describe();
    let shutdown = Shutdown::on_signals();
    let listener = tokio::net::TcpListener::bind(config.ops.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on ops.listen {}: {e}", config.ops.listen))?;
    let readiness = Readiness::new();
    readiness.add_pool("crm", &r.pool);
    ops::spawn("reconcile", listener, readiness, shutdown.clone());
    loop {
        match r.once().await {
            Ok(report) => {
                gauge!("hookline_reconcile_missing").set(report.remaining() as f64);
                gauge!("hookline_reconcile_extra").set(report.extra.len() as f64);
                gauge!("hookline_reconcile_last_run_timestamp_seconds")
                    .set(chrono::Utc::now().timestamp() as f64);
                tracing::info!(
                    missing = report.missing.len(),
                    still_missing = report.remaining(),
                    extra = report.extra.len(),
                    "reconciled with the RC"
                );
            }
            Err(e) => {
                metrics::counter!("hookline_reconcile_failures_total").increment(1);
                tracing::error!(error = format!("{e:#}"), "reconcile run failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}

fn describe() {
    describe_gauge!(
        "hookline_reconcile_missing",
        "Events the RC has that the CRM lacked at the end of the last reconcile run (after its repair, with --repair)."
    );
    describe_gauge!(
        "hookline_reconcile_extra",
        "Events the CRM has that the RC's health-sync does not know, at the last reconcile run."
    );
    describe_gauge!(
        "hookline_reconcile_last_run_timestamp_seconds",
        "Unix time the last reconcile run completed."
    );
    describe_counter!(
        "hookline_reconcile_failures_total",
        "Reconcile runs that could not compare (RC unreachable, key refused, range past retention)."
    );
}
