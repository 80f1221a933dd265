//! crm-ingest: the CRM's door for Resources Centre events.
//!
//! `POST /api/webhooks/resources-centre` takes deliveries signed with either
//! profile webhook-out speaks (Standard Webhooks, or the seed's `X-Signature`
//! scheme with an `api_key` in the body), verifies them over the raw bytes,
//! normalises them to the core event envelope and publishes them to
//! `CRM_EVENTS` with `Nats-Msg-Id` = event id. It answers 200 only after the
//! PubAck, so a 200 means the event is durable; a repeated id is a 200 that
//! changes nothing. The consumers (event-store, engagement-score, automation)
//! read the stream; nothing here touches Postgres.

mod app;
mod data;
pub mod envelope;
mod handler;
pub mod openapi;
mod uniq;
pub mod verify;

pub use app::router;
pub use handler::{Ingest, ROUTE};

use hookline_core::nats::{Nats, NatsError};
use hookline_core::ops::Readiness;
use hookline_core::{Config, Shutdown};
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
    #[error("crm-ingest: cannot listen on {addr}: {source}")]
    Bind {
        /// `ingest.listen`.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("crm-ingest: HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Runs the service on `ingest.listen` until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let addr = config.ingest.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    run_with_listener(config, listener, shutdown).await
}

/// Runs the service on an already-bound listener (tests and `hookline all`
/// bind port 0 and read the address first).
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // Fail closed before touching NATS: no secret, no service.
    config.require_ingest_secrets()?;
    let keys = Keys::from_config(&config.ingest)?;
    let nats = tokio::select! {
        nats = Nats::connect_and_declare(&config) => nats?,
        _ = shutdown.wait() => return Ok(()),
    };
    let readiness = Readiness::new();
    readiness.add_nats(&nats);
    let ingest = Ingest::new(
        keys,
        nats.js.clone(),
        nats.names.clone(),
        config.ingest.max_body_bytes,
    );
    let app = router(ingest, readiness.clone());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, route = ROUTE, "crm-ingest listening");
    }
    let draining = {
        let (readiness, shutdown) = (readiness.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.wait().await;
            readiness.set_draining();
        })
    };
    // Graceful shutdown stops accepting at once and lets in-flight requests
    // finish their publish; after the grace period they are abandoned (the
    // sender saw no 200 and retries, and the event id makes that harmless).
    let served = shutdown
        .with_grace(
            config.ops.shutdown_grace,
            hookline_core::ops::serve_on(listener, app, shutdown.clone()),
        )
        .await;
    draining.abort();
    match served {
        Some(result) => result.map_err(Error::Serve),
        None => {
            tracing::warn!("shutdown grace period over; abandoning in-flight deliveries");
            Ok(())
        }
    }
}
