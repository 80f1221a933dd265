//! `actions`: performs the tasks the `automation` consumer writes into
//! `automation_tasks` — `thank_you_email` over SMTP, `sdr_task` as a signed
//! webhook.
//!
//! ## Lifecycle of a task
//!
//! `pending` → `sending` → `sent` | `failed`. A worker claims due tasks in
//! one statement (`FOR UPDATE SKIP LOCKED`), stamping them `sending` with a
//! lease and its own id, so any number of `hookline actions` instances share
//! the table without ever holding the same task. A retryable failure puts
//! the task back to `pending`, due after `actions.backoff`; a permanent one
//! (a 5xx from SMTP, a 4xx from the webhook, no address), or the last of
//! `actions.max_attempts`, makes it `failed` with `last_error`. A worker that
//! dies leaves its tasks `sending` until the lease passes, then another
//! worker claims them again (it counts as an attempt).
//!
//! Kinds without a configured channel (no `actions.smtp_url`, no
//! `actions.sdr_webhook_url`) are never claimed: they stay `pending` until
//! one is configured. See [`email`] for the one window in which an email
//! can go out twice.

pub mod context;
pub mod email;
pub mod sdr;
pub mod store;
pub mod template;

use hookline_core::config::ConfigError;
use hookline_core::db::{self, DbError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown, telemetry};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Claimed;

/// Task kind sent by email.
pub const THANK_YOU_EMAIL: &str = "thank_you_email";
/// Task kind handed to the SDR webhook.
pub const SDR_TASK: &str = "sdr_task";

/// Why the worker stopped (or never started).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting cannot work (exit 2 naming the key).
    #[error("actions: {0}")]
    Config(#[from] ConfigError),
    /// Postgres could not be set up.
    #[error("actions: {0}")]
    Db(#[from] DbError),
    /// The ops listener could not be bound or served.
    #[error("ops listener on {addr}: {source}")]
    Ops {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Why one attempt at a task failed, and whether another could succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong (stored as `last_error`; never holds a secret).
    pub message: String,
    /// No retry can succeed: fail the task now.
    pub permanent: bool,
}

impl Failure {
    /// A failure another attempt may not repeat.
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure every attempt would repeat.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Runs the worker with `/healthz`, `/readyz` and `/metrics` on
/// `ops.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let addr = config.ops.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Ops { addr, source })?;
    let readiness = Readiness::new();
    let ops_stop = shutdown.child();
    let ops = tokio::spawn(ops::serve_on(
        listener,
        ops::router(readiness.clone()),
        ops_stop.clone(),
    ));
    let result = work(config, readiness, shutdown).await;
    ops_stop.trigger();
    match ops.await {
        Ok(Err(source)) => result.and(Err(Error::Ops { addr, source })),
        _ => result,
    }
}

/// Registers the `# HELP` text of the worker's metrics (harmless to call
/// more than once).
pub fn describe_metrics() {
    metrics::describe_histogram!(
        "hookline_actions_send_seconds",
        metrics::Unit::Seconds,
        "Time of one task attempt (email or SDR hand-off), by kind"
    );
    metrics::describe_counter!(
        "hookline_actions_tasks_total",
        "Task attempts, by kind and outcome (sent, retry, failed)"
    );
}

/// Runs the worker until `shutdown` fires, with no listener: the caller
/// serves `readiness` (`hookline all`).
pub async fn work(config: Config, readiness: Readiness, shutdown: Shutdown) -> Result<(), Error> {
    telemetry::prometheus();
    describe_metrics();
    let worker = Worker::new(&config).await?;
    readiness.add_pool("postgres", &worker.pool);
    let draining = readiness.clone();
    let signal = shutdown.clone();
    let flag = tokio::spawn(async move {
        signal.wait().await;
        draining.set_draining();
    });
    let worker = Arc::new(worker);
    worker.run(shutdown).await;
    flag.abort();
    worker.pool.close().await;
    Ok(())
}

/// The worker's channels and its claim identity.
struct Worker {
    pool: PgPool,
    config: hookline_core::config::ActionsConfig,
    mailer: Option<email::Mailer>,
    sdr: Option<sdr::SdrHook>,
    kinds: Vec<String>,
    /// `pid@host/random`, stored as `claimed_by`.
    id: String,
}

impl Worker {
    async fn new(config: &Config) -> Result<Self, Error> {
        let actions = config.actions.clone();
        actions.validate()?;
        let mailer = email::Mailer::new(&actions)?;
        let sdr = sdr::SdrHook::new(&actions)?;
        let mut kinds = Vec::new();
        if mailer.is_some() {
            kinds.push(THANK_YOU_EMAIL.to_string());
        }
        if sdr.is_some() {
            kinds.push(SDR_TASK.to_string());
        }
        let connections = u32::try_from(actions.batch_size).unwrap_or(16).clamp(2, 16) + 1;
        let pool = db::connect(
            &config.crm.database_url,
            crm_consumers::schema::SCHEMA,
            connections,
        )
        .await?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let id = format!(
            "{}@{host}/{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Ok(Self {
            pool,
            config: actions,
            mailer,
            sdr,
            kinds,
            id,
        })
    }

    async fn run(self: &Arc<Self>, shutdown: Shutdown) {
        if self.kinds.is_empty() {
            tracing::warn!(
                "actions: neither actions.smtp_url nor actions.sdr_webhook_url is set; \
                 tasks stay pending"
            );
        } else {
            tracing::info!(worker = %self.id, kinds = ?self.kinds, "actions worker starting");
        }
        while !shutdown.is_triggered() {
            let claimed = if self.kinds.is_empty() {
                Vec::new()
            } else {
                match store::claim(
                    &self.pool,
                    &self.kinds,
                    &self.id,
                    self.config.lease,
                    self.config.batch_size,
                )
                .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "actions: cannot claim tasks");
                        Vec::new()
                    }
                }
            };
            let full = claimed.len() as i64 >= self.config.batch_size;
            let mut running = tokio::task::JoinSet::new();
            for task in claimed {
                let worker = self.clone();
                running.spawn(async move { worker.perform(task).await });
            }
            // In-flight sends are bounded by actions.send_timeout: let them
            // finish rather than leave them to the lease.
            while running.join_next().await.is_some() {}
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = shutdown.wait() => {}
                }
            }
        }
    }

    async fn attempt(&self, task: &Claimed) -> Result<(), Failure> {
        let db_error = |e: sqlx::Error| Failure::retry(format!("reading the contact: {e}"));
        match (task.kind.as_str(), &self.mailer, &self.sdr) {
            (THANK_YOU_EMAIL, Some(mailer), _) => {
                let vars = context::email_vars(&self.pool, task)
                    .await
                    .map_err(db_error)?;
                mailer.send(task.id, &task.rule, &vars).await
            }
            (SDR_TASK, _, Some(sdr)) => {
                let lead = context::lead(&self.pool, task).await.map_err(db_error)?;
                sdr.send(task.id, &lead).await
            }
            (kind, _, _) => Err(Failure::permanent(format!("no channel for kind {kind:?}"))),
        }
    }

    async fn perform(&self, task: Claimed) {
        let started = Instant::now();
        // lettre's time-out is per read or write; this bounds the whole
        // conversation, which the lease relies on (lease >= 2 x send_timeout).
        let limit = self.config.send_timeout;
        let result = tokio::time::timeout(limit, self.attempt(&task))
            .await
            .unwrap_or_else(|_| Err(Failure::retry(format!("no answer within {limit:?}"))));
        let kind = task.kind.clone();
        metrics::histogram!("hookline_actions_send_seconds", "kind" => kind.clone())
            .record(started.elapsed().as_secs_f64());
        let (outcome, retry_in) = match &result {
            Ok(()) => ("sent", None),
            Err(f) if f.permanent || task.attempts >= self.config.max_attempts => ("failed", None),
            Err(_) => ("retry", Some(self.backoff(task.attempts))),
        };
        metrics::counter!("hookline_actions_tasks_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
        match &result {
            Ok(()) => {
                tracing::info!(task_id = task.id, event_id = %task.event_id, kind = %task.kind, attempts = task.attempts, "task sent")
            }
            Err(f) => {
                tracing::warn!(task_id = task.id, event_id = %task.event_id, kind = %task.kind, attempts = task.attempts, outcome, error = %f.message, "task attempt failed")
            }
        }
        self.record(&task, result.err(), retry_in).await;
    }

    /// Writes the outcome, retrying a briefly unreachable Postgres: until it
    /// is written the lease is the only guard, and a lost `sent` would let
    /// another worker send again once the lease passes.
    async fn record(&self, task: &Claimed, failure: Option<Failure>, retry_in: Option<Duration>) {
        for attempt in 0..5u32 {
            let written = match &failure {
                None => store::mark_sent(&self.pool, task.id, &self.id).await,
                Some(f) => {
                    store::mark_failed(&self.pool, task.id, &self.id, &f.message, retry_in).await
                }
            };
            match written {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        task_id = task.id,
                        "task was claimed by another worker meanwhile; outcome not recorded"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(task_id = task.id, error = %e, "cannot record task outcome, retrying");
                    tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt)).await;
                }
            }
        }
    }

    /// Delay before the next attempt after `attempts` tries, with up to 20 %
    /// jitter so tasks that failed together do not retry together.
    fn backoff(&self, attempts: i32) -> Duration {
        let schedule = &self.config.backoff;
        let index = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
        let base = schedule[index.min(schedule.len() - 1)];
        base.mul_f64(1.0 + rand::random::<f64>() * 0.2)
    }
}
