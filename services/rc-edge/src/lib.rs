//! rc-edge: the HTTP front door of the Resources Centre side.
//!
//! Browsers and the site send page views (`POST /api/page-view`, or the
//! `GET /t/{content_type}/{slug}.gif` pixel) and form submissions
//! (`POST /api/form-submission`); the site's backend announces content
//! versions (`POST /api/content-published`, bearer token, see [`content`]).
//! Each is validated, given its event id,
//! turned into a [`RawEvent`](hookline_core::event::RawEvent) with a
//! privacy-safe visitor block (keyed, daily-rotating HMAC of IP and user
//! agent; never the raw values) and published to `rc.raw.<type>`. The
//! answer — `202 {"status":"ok","id":…}` — is sent only after JetStream's
//! PubAck; if NATS cannot take the event the answer is 503 and nothing was
//! stored. Duplicates are dropped later, by dedupe.
//!
//! Crawlers are not refused: they are published with `visitor.bot = true`,
//! and dedupe drops and counts them. The list is the `isbot` crate's, which
//! includes command-line clients such as `curl`, `wget` and
//! `python-requests` — send a browser `User-Agent` when trying the API by
//! hand, or the event is counted as a bot and not forwarded. The 202 then
//! carries `"bot": true`, so the sender learns it at once.

mod app;
pub mod bearer;
pub mod content;
pub mod error;
pub mod fingerprint;
pub mod health_sync;
pub mod identity;
pub mod input;
pub mod openapi;
mod routes;

pub use app::router;
/// Which address a request comes from (shared with crm-ingest).
pub use hookline_core::http::client_ip;
pub use routes::PIXEL_GIF;

use hookline_core::http::ServeOptions;
use hookline_core::nats::{Nats, NatsError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown, startup};
use tokio::net::TcpListener;

/// Why the edge stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS could not be reached or its streams declared.
    #[error("edge: {0}")]
    Nats(#[from] NatsError),
    /// A secret rc-edge needs is missing or too short.
    #[error("edge: {0}")]
    Secret(#[from] hookline_core::config::ConfigError),
    /// `edge.trusted_proxies` holds something that is not an IP or CIDR.
    #[error("config: {0}")]
    TrustedProxy(#[from] client_ip::InvalidProxy),
    /// `edge.cors_origins` holds something that is not a header value.
    #[error("config: `edge.cors_origins` holds {0:?}, which is not a valid origin")]
    CorsOrigin(String),
    /// `edge.rate_limit_*` cannot make a rate limiter.
    #[error(
        "config: `edge.rate_limit_per_second` / `edge.rate_limit_burst` do not make a rate limit"
    )]
    RateLimit(#[source] hookline_core::http::rate_limit::InvalidRateLimit),
    /// The listen address could not be bound.
    #[error("edge: {0}")]
    Bind(#[from] startup::BindError),
    /// The HTTP server failed.
    #[error("edge: HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Runs the edge on `edge.listen`, and its ops routes (`/metrics` among
/// them) on `ops.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let listener = startup::bind(config.edge.listen).await?;
    let ops_listener = startup::bind(config.ops.listen).await?;
    serve(config, listener, Some(ops_listener), shutdown).await
}

/// Runs the edge on an already-bound listener, without an ops listener
/// (`hookline all` serves one for every service; tests bind port 0).
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    serve(config, listener, None, shutdown).await
}

/// Registers the `# HELP` text of the edge's metrics (harmless to call
/// more than once).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        "hookline_edge_events_total",
        "Events accepted and stored in RC_RAW, by type and bot flag"
    );
    describe_counter!(
        "hookline_edge_publish_failures_total",
        "Events refused with 503 because NATS did not store them, by type"
    );
    describe_histogram!(
        "hookline_edge_publish_seconds",
        Unit::Seconds,
        "Time to publish one event to RC_RAW and get its PubAck"
    );
    describe_counter!(
        "hookline_edge_identity_dropped_total",
        "Claimed contact identities dropped for a missing or wrong identity_sig, by type"
    );
    describe_counter!(
        "hookline_edge_bearer_auth_failures_total",
        "Requests to a bearer-token route (content-published, health-sync) refused 401, by config key"
    );
}

async fn serve(
    config: Config,
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // Fail closed before touching NATS: no secret, no service.
    config.require_edge_secrets()?;
    // Install the recorder before the first count, or early counts are lost.
    hookline_core::telemetry::prometheus();
    describe_metrics();
    let readiness = Readiness::new();
    if let Some(ops_listener) = ops_listener {
        ops::spawn("rc-edge", ops_listener, readiness.clone(), shutdown.clone());
    }
    if config.edge.identity_secret.is_none() {
        tracing::warn!(
            "edge.identity_secret is not set: any client may claim any contact_id or email"
        );
    }
    // Until NATS is set up, probes get answers (`/readyz` 503), not silence.
    let nats =
        startup::answer_while(&listener, &readiness, Nats::connect_and_declare(&config)).await?;
    readiness.add_nats(&nats);
    let app = router(&config.edge, nats, readiness.clone(), &shutdown)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "rc-edge listening");
    }

    let options = ServeOptions {
        http2: config.edge.http2,
        read_timeout: config.edge.read_timeout,
    };
    let grace = config.ops.shutdown_grace;
    startup::serve_public(
        "rc-edge", listener, app, options, &readiness, &shutdown, grace,
    )
    .await
    .map_err(Error::Serve)
}
