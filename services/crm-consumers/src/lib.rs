//! The CRM consumers: `event-store`, `engagement-score`, `automation` and,
//! when `hubspot.access_token` is set, `hubspot-sync`.
//!
//! Each is one file implementing [`runner::Consumer`]; the
//! shared runner does the rest (durable consumer, batching, exactly-once
//! effects, retries, `CRM_DLQ`, metrics). To add one, write the file and add
//! one line to [`registered`] — `docs/adding-a-consumer.md` walks through it.
//!
//! `hookline consume [NAME…]` calls [`run`]; `hookline all` can call [`work`]
//! and serve the ops endpoints itself.

pub mod automation;
pub mod drift;
pub mod engagement_score;
pub mod event_store;
pub mod hubspot_sync;
pub mod identity;
pub mod runner;
pub mod schema;
pub mod scoring;

use crate::runner::{Consumer, Runner, RunnerError};
use hookline_core::db::{self, DbError};
use hookline_core::nats::{Nats, NatsError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown, telemetry};
use std::sync::Arc;

/// Longest wait for the Postgres pool to close on shutdown.
const POOL_CLOSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Every consumer this build knows, configured from `config`.
///
/// Registration is one line per consumer. Order does not matter: consumers
/// are independent (each has its own durable and its own tables).
pub fn registered(config: &Config) -> Vec<Arc<dyn Consumer>> {
    let mut all: Vec<Arc<dyn Consumer>> = vec![
        Arc::new(event_store::EventStore::new()),
        Arc::new(engagement_score::EngagementScore::new(config)),
        Arc::new(automation::Automation::new(config)),
    ];
    // Only with `hubspot.access_token` set.
    all.extend(hubspot_sync::HubspotSync::from_config(config).map(|c| Arc::new(c) as _));
    all
}

/// The names of the consumers registered by default (for `--help` and error
/// messages); `hubspot-sync` joins them when `hubspot.access_token` is set.
pub fn names() -> Vec<&'static str> {
    registered(&Config::default())
        .iter()
        .map(|c| c.name())
        .collect()
}

/// Why the consumers stopped (or never started).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name given on the command line is not a registered consumer.
    #[error("no consumer named {name:?}; known consumers: {known}")]
    UnknownConsumer {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A secret a consumer needs is too short (or, for a consumer asked for
    /// by name, missing).
    #[error("crm-consumers: {0}")]
    Secret(#[from] hookline_core::config::ConfigError),
    /// The automation rules cannot work.
    #[error(transparent)]
    Rules(#[from] automation::RuleError),
    /// NATS could not be set up.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// Postgres could not be set up.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The runner could not start a consumer.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The ops listener could not be bound or served.
    #[error("ops listener on {addr}: {source}")]
    Ops {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The registered consumers named in `names` (all of them when empty), or a
/// clear error naming the unknown one and listing the known ones.
pub fn select(config: &Config, names: &[String]) -> Result<Vec<Arc<dyn Consumer>>, Error> {
    config.require_hubspot_secrets()?;
    if names.iter().any(|n| n == hubspot_sync::NAME) && config.hubspot.token().is_none() {
        hookline_core::config::require_secret("hubspot.access_token", None, "hubspot-sync")?;
    }
    let all = registered(config);
    if names.is_empty() {
        return Ok(all);
    }
    let mut chosen: Vec<Arc<dyn Consumer>> = Vec::with_capacity(names.len());
    for name in names {
        let found = all.iter().find(|c| c.name() == name.as_str());
        match found {
            Some(c) if !chosen.iter().any(|k| k.name() == c.name()) => chosen.push(c.clone()),
            Some(_) => {}
            None => {
                return Err(Error::UnknownConsumer {
                    name: name.clone(),
                    known: all.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    Ok(chosen)
}

/// The part of a [`Readiness`] the consumers hold until their durables exist
/// (`hookline all` marks it before starting anything).
pub const SETTING_UP: &str = "consumers";

/// Runs the named consumers (all when empty) with `/healthz`, `/readyz` and
/// `/metrics` on `ops.listen`, until `shutdown` fires.
pub async fn run(config: Config, names: Vec<String>, shutdown: Shutdown) -> Result<(), Error> {
    // Refuse bad names and rules before binding anything.
    let consumers = select(&config, &names)?;
    automation::validate(&config.crm.automation)?;
    run_with(config, consumers, shutdown).await
}

/// Runs any set of consumers — e.g. a platform team's own, in its own
/// binary — with the ops endpoints on `ops.listen`, until `shutdown` fires.
pub async fn run_with(
    config: Config,
    consumers: Vec<Arc<dyn Consumer>>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let addr = config.ops.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Ops { addr, source })?;
    let readiness = Readiness::new();
    readiness.setting_up(SETTING_UP);
    let ops_stop = shutdown.child();
    let ops = tokio::spawn(ops::serve_on(
        listener,
        ops::router(readiness.clone()),
        ops_stop.clone(),
    ));
    let result = work_with(config, consumers, readiness, shutdown).await;
    ops_stop.trigger();
    tracing::info!("closing the ops listener");
    match ops.await {
        Ok(Err(source)) => result.and(Err(Error::Ops { addr, source })),
        _ => result,
    }
}

/// Runs the named consumers (all when empty) until `shutdown` fires, with no
/// listener: the caller serves `readiness`.
pub async fn work(
    config: Config,
    names: Vec<String>,
    readiness: Readiness,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let consumers = select(&config, &names)?;
    automation::validate(&config.crm.automation)?;
    work_with(config, consumers, readiness, shutdown).await
}

/// Runs any set of consumers — the registered ones or a platform team's
/// own — against the configured NATS and CRM database (created and migrated
/// if needed), until `shutdown` fires.
pub async fn work_with(
    config: Config,
    consumers: Vec<Arc<dyn Consumer>>,
    readiness: Readiness,
    shutdown: Shutdown,
) -> Result<(), Error> {
    telemetry::prometheus();
    drift::describe_metrics();
    // Not ready until every stream and durable exists: a process still
    // waiting for JetStream must not count as up.
    readiness.setting_up(SETTING_UP);
    let nats = Nats::connect_and_declare(&config).await?;
    // One connection per consumer's batch, plus one for /readyz.
    let connections = u32::try_from(consumers.len())
        .unwrap_or(u32::MAX)
        .saturating_add(2);
    let pool = db::connect(&config.crm.database_url, schema::SCHEMA, connections).await?;
    let names: Vec<&str> = consumers.iter().map(|c| c.name()).collect();
    tracing::info!(consumers = ?names, "CRM consumers starting");
    let prepared = Runner::new(&nats, pool.clone(), &config)
        .prepare(consumers)
        .await?;
    readiness.add_nats(&nats);
    readiness.add_pool("postgres", &pool);
    readiness.set_up(SETTING_UP);
    let draining = readiness.clone();
    let signal = shutdown.clone();
    let flag = tokio::spawn(async move {
        signal.wait().await;
        draining.set_draining();
    });
    let result = prepared.run(shutdown).await;
    flag.abort();
    tracing::info!("consumers drained; closing the Postgres pool");
    // Closing waits for every checked-out connection; one abandoned by a
    // batch cut off at the grace must not hold the exit. Postgres rolls back
    // whatever a dropped connection left open.
    if tokio::time::timeout(POOL_CLOSE, pool.close())
        .await
        .is_err()
    {
        tracing::warn!(waited = ?POOL_CLOSE, "Postgres pool did not close in time; leaving its connections to the server");
    }
    Ok(result?)
}
