//! crm-ingest: the CRM's door for Resources Centre events.
//!
//! `POST /api/webhooks/optimocms` takes OptimoCMS's signed deliveries the
//! same way (see [`optimocms`]); a well-formed type hookline does not model
//! is kept as an other-type event on either route.
//!
//! `POST /api/webhooks/resources-centre` takes deliveries signed with either
//! profile webhook-out speaks (Standard Webhooks, or the legacy Node app's `X-Signature`
//! scheme with an `api_key` in the body), verifies them over the raw bytes,
//! normalises them to the core event envelope and publishes them to
//! `CRM_EVENTS` with `Nats-Msg-Id` = event id. It answers 200 only after the
//! PubAck, so a 200 means the event is durable; a repeated id is a 200 that
//! changes nothing; a form submission that a second sender already
//! delivered is published under the first copy's id (`form_dedupe`). The consumers (event-store, engagement-score, automation)
//! read the stream; nothing here touches Postgres.

mod app;
mod data;
pub mod envelope;
pub mod form_dedupe;
mod handler;
pub mod openapi;
pub mod optimocms;
mod uniq;
pub mod verify;

pub use app::router;
pub use data::DataError;
pub use handler::{Ingest, ROUTE};

use hookline_core::http::ServeOptions;
use hookline_core::http::client_ip::TrustedProxies;
use hookline_core::http::rate_limit::{self, RateLimit};
use hookline_core::nats::{Nats, NatsError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown, startup};
use tokio::net::TcpListener;
use verify::{KeyError, Keys};

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A secret or key in `ingest.*` cannot be used.
    #[error(transparent)]
    Config(#[from] KeyError),
    /// A secret crm-ingest needs is missing or too short.
    #[error("crm-ingest: {0}")]
    Secret(#[from] hookline_core::config::ConfigError),
    /// NATS could not be reached or its streams declared.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The listen address could not be bound.
    #[error("crm-ingest: {0}")]
    Bind(#[from] startup::BindError),
    /// The HTTP server failed.
    #[error("crm-ingest: HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Runs the service on `ingest.listen`, and its ops routes (`/metrics`
/// among them) on `ops.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let listener = startup::bind(config.ingest.listen).await?;
    let ops_listener = startup::bind(config.ops.listen).await?;
    serve(config, listener, Some(ops_listener), shutdown).await
}

/// Runs the service on an already-bound listener, without an ops listener
/// (`hookline all` serves one for every service; tests bind port 0).
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    serve(config, listener, None, shutdown).await
}

/// Runs the service and its ops routes on already-bound listeners.
pub async fn run_with_listeners(
    config: Config,
    listener: TcpListener,
    ops_listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    serve(config, listener, Some(ops_listener), shutdown).await
}

/// Registers the `# HELP` text of the ingest's metrics (harmless to call
/// more than once).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "hookline_ingest_deliveries_total",
        "Webhook deliveries received, by outcome (accepted, duplicate, ping, or the refusal)"
    );
}

async fn serve(
    config: Config,
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // Fail closed before touching NATS: no secret, no service.
    config.require_ingest_secrets()?;
    let keys = Keys::from_config(&config.ingest)?;
    hookline_core::telemetry::prometheus();
    describe_metrics();
    let readiness = Readiness::new();
    if let Some(ops_listener) = ops_listener {
        ops::spawn(
            "crm-ingest",
            ops_listener,
            readiness.clone(),
            shutdown.clone(),
        );
    }
    // Until NATS is set up, probes get answers (`/readyz` 503), not silence.
    let setup = async {
        tokio::select! {
            nats = Nats::connect_and_declare(&config) => Some(nats),
            _ = shutdown.wait() => None,
        }
    };
    let Some(nats) = startup::answer_while(&listener, &readiness, setup).await else {
        return Ok(());
    };
    let nats = nats?;
    readiness.add_nats(&nats);
    let forms =
        form_dedupe::FormDedupe::new(hookline_core::nats::crm_form_bucket(&nats, &config).await?);
    let ingest = Ingest::new(
        keys,
        nats.js.clone(),
        nats.names.clone(),
        forms,
        config.ingest.max_body_bytes,
    );
    let app = router(ingest, readiness.clone());
    let app = limited(app, &config, &shutdown)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, route = ROUTE, "crm-ingest listening");
    }
    // In-flight requests finish their publish within the grace period.
    let options = ServeOptions {
        http2: config.ingest.http2,
        read_timeout: config.ingest.read_timeout,
    };
    let grace = config.ops.shutdown_grace;
    startup::serve_public(
        "crm-ingest",
        listener,
        app,
        options,
        &readiness,
        &shutdown,
        grace,
    )
    .await
    .map_err(Error::Serve)
}

/// The per-client-IP limit (`ingest.rate_limit_*`), in front of every route
/// so a flood of forged deliveries is refused before any HMAC is computed.
fn limited(app: axum::Router, config: &Config, shutdown: &Shutdown) -> Result<axum::Router, Error> {
    let ingest = &config.ingest;
    let proxies = TrustedProxies::parse("ingest.trusted_proxies", &ingest.trusted_proxies)
        .map_err(|e| KeyError {
            key: e.key,
            message: format!(
                "holds {:?}, which is neither an IP address nor a CIDR",
                e.value
            ),
        })?;
    let limit = RateLimit {
        per_second: ingest.rate_limit_per_second,
        burst: ingest.rate_limit_burst,
    };
    rate_limit::apply(app, limit, proxies, shutdown).map_err(|e| {
        Error::Config(KeyError {
            key: "ingest.rate_limit_per_second",
            message: e.to_string(),
        })
    })
}
