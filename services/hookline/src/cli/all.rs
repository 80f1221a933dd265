//! `hookline all`: every service in one process, sharing one shutdown signal.

use hookline_core::{Config, Shutdown};

/// Runs every service until `shutdown` fires; the first to fail stops the rest.
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let tasks = vec![
        tokio::spawn(named(
            "edge",
            rc_edge::run(config.clone(), shutdown.clone()),
        )),
        tokio::spawn(named(
            "dedupe",
            dedupe::run(config.clone(), shutdown.clone()),
        )),
        tokio::spawn(named(
            "webhook-out",
            webhook_out::run(config.clone(), shutdown.clone()),
        )),
        tokio::spawn(named(
            "ingest",
            crm_ingest::run(config.clone(), shutdown.clone()),
        )),
        tokio::spawn(named(
            "consumers",
            crm_consumers::run(config.clone(), Vec::new(), shutdown.clone()),
        )),
    ];
    let mut first_error = None;
    for task in tasks {
        if let Err(e) = task.await? {
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
    fut.await.map_err(|e| anyhow::anyhow!("{name}: {e}"))
}
