//! The CRM consumer runner: the extension point for anyone who wants to act
//! on CRM events.
//!
//! A consumer is a type implementing [`Consumer`] — a name, the event types it
//! wants, and a handler that writes its effect through a Postgres transaction.
//! [`Runner`] does everything else, identically for every consumer:
//!
//! - a durable pull consumer named after it on `CRM_EVENTS` (filter
//!   `crm.events.>`; unwanted types are acked and skipped — nats-server 2.9
//!   has no multi-subject filters);
//! - batches of up to `consumers.batch_size`, applied in **one** transaction
//!   together with their `processed_events(consumer, event_id)` rows, so a
//!   redelivered event is recognised and skipped: effects happen exactly once;
//! - acks **after** `COMMIT`; a failing event is rolled back alone (savepoint)
//!   and nak'ed with `consumers.backoff`; on delivery `consumers.max_deliver`
//!   it is published to `CRM_DLQ` (`crm.dlq.<consumer>`, in the shared format
//!   of [`hookline_core::dlq`]) and terminated,
//!   while the rest of the stream moves on. Messages that are not event
//!   envelopes go to `CRM_DLQ` at once;
//! - while Postgres is unreachable the batch is held (JetStream is told it is
//!   in progress, so no delivery is counted) and retried: an outage never
//!   dead-letters good events and never stops the process;
//! - on shutdown: stop pulling, finish the batch in hand, give back what was
//!   prefetched, return within `ops.shutdown_grace`;
//! - metrics `hookline_consumer_{processed,duplicates,failed,dead_lettered,
//!   skipped,batch_errors}_total{consumer}` and
//!   `hookline_consumer_batch_seconds{consumer}`.
//!
//! Running several instances of the same consumer (processes, or [`Runner`]s)
//! is safe: JetStream spreads messages over them and `processed_events`
//! settles any event two of them see.

mod batch;
mod consumer;
pub mod metrics;
mod process;
pub mod settle;
mod worker;

pub use consumer::{Cause, Consumer, HandlerError};
pub use hookline_core::dlq::MAX_DELIVER_MARGIN;

use async_nats::jetstream;
use hookline_core::config::Config;
use hookline_core::consume::Retries;
use hookline_core::names::Names;
use hookline_core::nats::{Nats, NatsError};
use hookline_core::shutdown::Shutdown;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A consumer name JetStream or the DLQ subject cannot carry.
    #[error("consumer name {0:?} must be 1-64 letters, digits, `-` or `_`")]
    InvalidName(String),
    /// Two consumers with one name would share one durable and one set of
    /// `processed_events` rows.
    #[error("two consumers are named {0:?}; names must be unique")]
    DuplicateName(String),
    /// The durable consumer could not be created or updated.
    #[error("consumer {consumer}: cannot set up its JetStream consumer: {source}")]
    Setup {
        /// The consumer's name.
        consumer: String,
        /// Why (a [`ConfigError`](hookline_core::config::ConfigError) in its chain
        /// when a setting must change).
        #[source]
        source: NatsError,
    },
    /// A consumer's task died (a bug in the runner).
    #[error("consumer task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// The runner's settings, taken from `consumers.*` and `ops.shutdown_grace`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This stack's names.
    pub names: Names,
    /// Events per batch.
    pub batch_size: usize,
    /// Deliveries before a failing event is dead-lettered.
    pub max_deliver: i64,
    /// How long a delivered event may stay unacknowledged.
    pub ack_wait: Duration,
    /// Nak delays by delivery count (the last one repeats).
    pub backoff: Vec<Duration>,
    /// Longest drain on shutdown.
    pub shutdown_grace: Duration,
    /// Longest wait for JetStream while declaring a durable
    /// (`nats.connect_timeout`).
    pub setup_timeout: Duration,
}

impl Settings {
    /// The settings a config gives.
    pub fn from_config(config: &Config) -> Self {
        let c = &config.consumers;
        Self {
            names: config.names(),
            batch_size: c.batch_size.max(1),
            max_deliver: c.max_deliver.max(1),
            ack_wait: c.ack_wait.max(Duration::from_secs(1)),
            backoff: c.backoff.clone(),
            shutdown_grace: config.ops.shutdown_grace,
            setup_timeout: config.nats.connect_timeout,
        }
    }

    /// The retry policy with `max_deliver` as the last try: the runner's
    /// own limit for a failing event, the server's for a batch that never
    /// committed (not the events' fault).
    pub fn retries(&self, max_deliver: i64) -> Retries<'_> {
        Retries {
            max_deliver,
            backoff: &self.backoff,
            jitter: 1.0,
        }
    }

    /// `max_deliver` as set on the durable (see [`MAX_DELIVER_MARGIN`]).
    pub fn server_max_deliver(&self) -> i64 {
        self.max_deliver + MAX_DELIVER_MARGIN
    }
}

/// Longest pause between in-progress acks while a batch waits for Postgres:
/// well inside ack_wait, so JetStream never redelivers a held batch.
fn backoff_cap(settings: &Settings) -> Duration {
    (settings.ack_wait / 3).max(Duration::from_millis(100))
}

/// What every consumer task shares.
struct Shared {
    js: jetstream::Context,
    pool: PgPool,
    settings: Settings,
}

/// Runs consumers against one NATS connection and one Postgres pool.
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
}

impl Runner {
    /// A runner with `config`'s settings. `pool` must be the CRM database,
    /// migrated (it holds `processed_events`).
    pub fn new(nats: &Nats, pool: PgPool, config: &Config) -> Self {
        Self::with_settings(nats, pool, Settings::from_config(config))
    }

    /// A runner with explicit settings.
    pub fn with_settings(nats: &Nats, pool: PgPool, settings: Settings) -> Self {
        metrics::describe();
        Self {
            shared: Arc::new(Shared {
                js: nats.js.clone(),
                pool,
                settings,
            }),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Declares every consumer's durable, then runs them all until
    /// `shutdown` fires, and returns within `ops.shutdown_grace` after it.
    /// Fails at once on a bad name or a durable NATS refuses; once running,
    /// consumers ride out NATS and Postgres outages.
    pub async fn run(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
        shutdown: Shutdown,
    ) -> Result<(), RunnerError> {
        self.prepare(consumers).await?.run(shutdown).await
    }

    /// Declares every consumer's durable (waiting up to
    /// `nats.connect_timeout` while JetStream is not ready) without
    /// consuming yet: a service reports ready between the two steps.
    pub async fn prepare(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
    ) -> Result<Prepared, RunnerError> {
        check_names(&consumers)?;
        let mut durables = Vec::with_capacity(consumers.len());
        for consumer in consumers {
            let durable = worker::ensure(&self.shared, consumer.name()).await?;
            durables.push((consumer, durable));
        }
        Ok(Prepared {
            shared: self.shared.clone(),
            durables,
        })
    }
}

/// Consumers whose durables are declared, ready to run.
pub struct Prepared {
    shared: Arc<Shared>,
    durables: Vec<(Arc<dyn Consumer>, jetstream::consumer::PullConsumer)>,
}

impl Prepared {
    /// Runs every consumer until `shutdown` fires, and returns within
    /// `ops.shutdown_grace` after it.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), RunnerError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (consumer, durable) in self.durables {
            tracing::info!(consumer = consumer.name(), types = ?consumer.event_types(), "consumer started");
            tasks.spawn(worker::run(
                self.shared.clone(),
                consumer,
                durable,
                shutdown.clone(),
            ));
        }
        let grace = self.shared.settings.shutdown_grace;
        let drained = shutdown
            .with_grace(grace, async {
                while let Some(done) = tasks.join_next().await {
                    if let Err(e) = done {
                        return Err(RunnerError::Task(e));
                    }
                }
                Ok(())
            })
            .await;
        match drained {
            Some(result) => result,
            None => {
                // Dropping the set aborts the tasks; their open transactions
                // roll back and their messages are redelivered after ack_wait.
                tracing::warn!(
                    ?grace,
                    "consumers did not drain within the shutdown grace; abandoning in-flight batches"
                );
                Ok(())
            }
        }
    }
}

fn check_names(consumers: &[Arc<dyn Consumer>]) -> Result<(), RunnerError> {
    let mut seen = HashSet::new();
    for c in consumers {
        let name = c.name();
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(RunnerError::InvalidName(name.to_string()));
        }
        if !seen.insert(name) {
            return Err(RunnerError::DuplicateName(name.to_string()));
        }
    }
    Ok(())
}
