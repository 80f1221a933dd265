//! webhook-out: signs and delivers `RC_EVENTS` to subscribed endpoints, with
//! retries, a delivery log, dead letters and replay, behind an admin API.
//!
//! - [`api`]: the admin API on `webhook_out.listen` (plus `/openapi.json`
//!   and the ops routes).
//! - [`delivery`]: one durable consumer per webhook; retries wait in
//!   JetStream (nak with delay), exhausted events go to `RC_DLQ`.
//! - [`store`]: webhooks, the batched attempt log and replays in Postgres.
//! - [`ssrf`]: targets on internal networks are refused at the API and at
//!   connect time.
//! - [`replay`]: re-delivery of a time window through its own consumer.

/// Implements `Debug` for a struct, showing `fields` and `<redacted>` in
/// place of each of `secrets`, so no secret reaches a log through `{:?}`.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* $(,)? } hides { $($secret:ident),* $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                $( d.field(stringify!($field), &self.$field); )*
                $( let _ = &self.$secret; d.field(stringify!($secret), &"<redacted>"); )*
                d.finish()
            }
        }
    };
}
pub(crate) use redacted_debug;

pub mod api;
mod config_webhook;
pub mod delivery;
pub mod ops_events;
pub mod redact;
pub mod replay;
pub mod ssrf;
pub mod store;
pub mod trace;

use delivery::{Ctx, send, supervisor};
use hookline_core::db::{self, DbError};
use hookline_core::nats::{Nats, NatsError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown, startup};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use config_webhook::ensure as ensure_config_webhook;

/// How often old attempts are trimmed.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS could not be set up.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// Postgres could not be set up.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The listener failed.
    #[error("webhook-out listener: {0}")]
    Io(#[from] std::io::Error),
    /// Stored secrets do not open with the configured keys.
    #[error("webhook-out: {0}")]
    Keys(#[from] store::secrets::KeysError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A setting is wrong or a secret it needs is missing, too short or
    /// malformed (named in the cause).
    #[error("webhook-out: {0}")]
    Config(#[from] hookline_core::config::ConfigError),
}

/// The CRM database, for event traces only: connected on first use, so a
/// stack without the CRM side still starts (traces then name it unseen).
fn crm_pool(config: &Config) -> Option<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(&config.crm.database_url)
        .ok()
}

/// Runs the service on `webhook_out.listen` until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let listener = TcpListener::bind(config.webhook_out.listen).await?;
    run_with_listener(config, listener, shutdown).await
}

/// Brings the `webhooks` table in line before anything reads it: rows from
/// before encryption sealed, every stored secret opening with the configured
/// keys (else exit 2 naming `webhook_out.encryption_keys`), and the config
/// webhook created or updated.
async fn prepare_webhooks(
    pool: &sqlx::PgPool,
    keys: &store::Keyring,
    config: &Config,
) -> Result<(), Error> {
    let sealed = store::secrets::seal_plaintext_rows(pool, keys)
        .await
        .map_err(DbError::from)?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "encrypted webhook secrets stored in plaintext"
        );
    }
    store::secrets::check_keys(pool, keys).await?;
    config_webhook::ensure(pool, keys, config)
        .await
        .map_err(DbError::from)?;
    Ok(())
}

/// Runs the service on an already-bound listener (tests and `hookline all`
/// bind port 0).
///
/// Lifecycle: settings are checked before anything is touched (no secret, no
/// service); probes are answered while NATS and Postgres are set up; then
/// the supervisor, retention and the admin API run until `shutdown`; the
/// attempt writer stops last, so the deliveries that finished while draining
/// are still logged.
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // Install the recorder before the first delivery, or the counts made
    // before the first scrape of /metrics are lost.
    hookline_core::telemetry::prometheus();
    delivery::describe_metrics();
    let wo = &config.webhook_out;
    // Fail closed before touching NATS or Postgres: no secret, no service.
    config.require_webhook_out_secrets()?;
    let admin_token: Arc<str> = Arc::from(wo.admin_token.as_deref().unwrap_or_default().trim());
    let keys = Arc::new(store::Keyring::from_config(&wo.encryption_keys)?);
    let ops = ops_events::OpsEvents::from_config(wo)?;
    let readiness = Readiness::new();
    let (nats, pool) = set_up(&config, &listener, &readiness, &keys).await?;
    let writer_stop = Shutdown::new();
    let (writer, writer_task) = store::AttemptWriter::spawn(
        pool.clone(),
        wo.disable_after,
        ops.clone(),
        writer_stop.clone(),
    );
    let ctx = context(&config, nats, pool, keys, ops, writer)?;
    let background = spawn_background(&ctx, wo.attempt_retention, &readiness, &shutdown);
    let state = api::AppState {
        ctx,
        admin_token,
        crm: crm_pool(&config),
    };
    let app = api::router(state, readiness);
    tracing::info!(addr = ?listener.local_addr().ok(), "webhook-out listening");
    let served = ops::serve_on(listener, app, shutdown.clone()).await;
    for task in background {
        let _ = task.await;
    }
    writer_stop.trigger();
    let _ = writer_task.await;
    served?;
    Ok(())
}

/// Connects NATS (declaring streams) and Postgres and prepares the
/// `webhooks` table; until then probes get answers (`/readyz` 503), not
/// silence. Readiness then watches both.
async fn set_up(
    config: &Config,
    listener: &TcpListener,
    readiness: &Readiness,
    keys: &store::Keyring,
) -> Result<(Nats, sqlx::PgPool), Error> {
    let setup = async {
        let nats = Nats::connect_and_declare(config).await?;
        let pool = db::connect(&config.rc.database_url, store::SCHEMA, 10).await?;
        prepare_webhooks(&pool, keys, config).await?;
        Ok::<_, Error>((nats, pool))
    };
    let (nats, pool) = startup::answer_while(listener, readiness, setup).await?;
    readiness.add_nats(&nats);
    readiness.add_pool("postgres", &pool);
    Ok((nats, pool))
}

/// What every delivery and admin call shares: two HTTP clients (the API's
/// targets behind the SSRF guard, the configured webhook's without it) and
/// the settings of `webhook_out.*`.
fn context(
    config: &Config,
    nats: Nats,
    pool: sqlx::PgPool,
    keys: Arc<store::Keyring>,
    ops: Option<Arc<ops_events::OpsEvents>>,
    writer: store::AttemptWriter,
) -> Result<Arc<Ctx>, Error> {
    let wo = &config.webhook_out;
    let policy = Arc::new(ssrf::Policy::for_api(wo));
    let open = Arc::new(ssrf::Policy::open());
    Ok(Arc::new(Ctx {
        pool,
        nats,
        http: send::client(wo.connect_timeout, wo.request_timeout, policy.clone())?,
        http_config: send::client(wo.connect_timeout, wo.request_timeout, open)?,
        writer,
        ops,
        schedule: wo.retry_schedule.clone(),
        max_in_flight: wo.max_in_flight.max(1),
        request_timeout: wo.request_timeout,
        policy,
        keys,
        config_url: config.crm_webhook.url.clone(),
        site_id: wo.site_id.clone(),
        grace: config.ops.shutdown_grace,
        poke: tokio::sync::Notify::new(),
        sync_started: Default::default(),
        sync_done: tokio::sync::watch::channel(0).0,
    }))
}

/// Starts the supervisor and attempt retention (attempts older than
/// `keep_attempts` go; both end with `shutdown`,
/// and are awaited before the writer stops), and marks readiness draining
/// when `shutdown` fires.
fn spawn_background(
    ctx: &Arc<Ctx>,
    keep_attempts: Duration,
    readiness: &Readiness,
    shutdown: &Shutdown,
) -> [tokio::task::JoinHandle<()>; 2] {
    let supervisor = tokio::spawn(supervisor::run(ctx.clone(), shutdown.clone()));
    let retention = tokio::spawn(store::attempts::retention_loop(
        ctx.pool.clone(),
        keep_attempts,
        RETENTION_EVERY,
        shutdown.clone(),
    ));
    let (readiness, shutdown) = (readiness.clone(), shutdown.clone());
    tokio::spawn(async move {
        shutdown.wait().await;
        readiness.set_draining();
    });
    [supervisor, retention]
}
