//! `hookline all`: every service in one process, from one config, sharing one
//! shutdown signal and one ops listener (`/metrics` of every service, since
//! they share one recorder; `/healthz` and `/readyz` of dedupe, the
//! consumers and actions, while the HTTP services answer their own on their
//! ports).

use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown};
use std::net::SocketAddr;
use tokio::net::TcpListener;

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{what}: cannot listen on {addr}: {e}"))
}

/// Runs every service until `shutdown` fires; the first to fail stops the rest.
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    // Every secret first, so a missing one stops the stack before any
    // service has connected or created anything.
    config.require_edge_secrets()?;
    config.require_webhook_out_secrets()?;
    config.require_ingest_secrets()?;
    let edge = bind("edge.listen", config.edge.listen).await?;
    let admin = bind("webhook_out.listen", config.webhook_out.listen).await?;
    let ingest = bind("ingest.listen", config.ingest.listen).await?;
    let ops_listener = bind("ops.listen", config.ops.listen).await?;
    for (name, listener, what) in [
        (
            "rc-edge",
            &edge,
            "POST /api/page-view, /api/form-submission, GET /t/…gif",
        ),
        (
            "webhook-out",
            &admin,
            "admin API /v1/webhooks (Bearer token)",
        ),
        ("crm-ingest", &ingest, "POST /api/webhooks/resources-centre"),
        (
            "ops",
            &ops_listener,
            "/metrics of every service; /healthz /readyz of dedupe, consumers and actions",
        ),
    ] {
        let addr = listener.local_addr()?;
        println!("hookline all: {name:<12} http://{addr}  {what}");
    }

    let readiness = Readiness::new();
    // Both parts on the ops listener mark themselves before either starts,
    // so the first to finish cannot make the process look ready alone.
    readiness.setting_up(dedupe::SETTING_UP);
    readiness.setting_up(crm_consumers::SETTING_UP);
    ops::spawn("all", ops_listener, readiness.clone(), shutdown.clone());

    let tasks = vec![
        tokio::spawn(named(
            "edge",
            rc_edge::run_with_listener(config.clone(), edge, shutdown.clone()),
        )),
        tokio::spawn(named(
            "dedupe",
            dedupe::work(config.clone(), readiness.clone(), shutdown.clone()),
        )),
        tokio::spawn(named(
            "webhook-out",
            webhook_out::run_with_listener(config.clone(), admin, shutdown.clone()),
        )),
        tokio::spawn(named(
            "ingest",
            crm_ingest::run_with_listener(config.clone(), ingest, shutdown.clone()),
        )),
        tokio::spawn(named(
            "consumers",
            crm_consumers::work(
                config.clone(),
                Vec::new(),
                readiness.clone(),
                shutdown.clone(),
            ),
        )),
        tokio::spawn(named(
            "actions",
            actions::work(config.clone(), readiness, shutdown.clone()),
        )),
    ];
    let mut first_error = None;
    for task in tasks {
        if let Err(e) = task.await? {
            tracing::error!(error = %format!("{e:#}"), "service stopped; stopping the others");
            shutdown.trigger();
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn named<E: std::error::Error + Send + Sync + 'static>(
    name: &'static str,
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> anyhow::Result<()> {
    // Kept as the cause (not flattened into a string) so that a
    // `ConfigError` in the chain still makes the process exit 2.
    fut.await.map_err(|e| anyhow::Error::new(e).context(name))
}
