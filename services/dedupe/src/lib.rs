//! dedupe: drops repeated raw events inside a time window and forwards the
//! unique ones from RC_RAW to RC_EVENTS.
//!
//! A durable pull consumer (`dedupe`) on RC_RAW; every instance binds the same
//! consumer, so instances share the work, and share only the KV buckets for
//! the decisions — correctness never depends on one process's memory.
//! Messages arrive in batches (`dedupe.batch_size`) and are judged
//! concurrently; see [`batch`] for the crash-safe order of claim, publish and
//! ack, [`claim`] for the KV protocol and cache, and [`key`] for what counts
//! as the same event.
//!
//! What is forwarded:
//! - the first event of each key inside the window (from the first view; no
//!   calendar buckets);
//! - events nothing identifies (GDPR mode without `contact_id`): every one,
//!   counted in `hookline_dedupe_unidentified_total` too;
//!
//! and what is not: duplicates (`hookline_dedupe_duplicate_total`) and
//! crawlers (`hookline_dedupe_bot_total`). Forwarded events carry the
//! envelope only — the visitor block never leaves RC_RAW.
//!
//! Known visitors (`contact_id`, or email for forms) are matched for the whole
//! window, however long. Anonymous visitors are matched by a fingerprint whose
//! key rotates daily; dedupe also checks yesterday's fingerprint, so they are
//! matched exactly for windows up to 24 h (the default) and for at most one
//! rotation beyond that.

pub mod batch;
pub mod claim;
pub mod key;
pub mod latest;

use async_nats::jetstream::consumer::{self, pull};
use hookline_core::consume::{self, Pull};
use hookline_core::event::EventType;
use hookline_core::names::RC_RAW;
use hookline_core::nats::{self, Existing, Nats, NatsError};
use hookline_core::ops::{self, Readiness};
use hookline_core::{Config, Shutdown};
use std::sync::Arc;
use std::time::Duration;

/// The part of a [`Readiness`] dedupe holds until its streams, buckets and
/// durable exist (`hookline all` marks it before starting anything).
pub const SETTING_UP: &str = "dedupe";

/// The durable consumer's name (inside the prefixed RC_RAW stream).
pub const CONSUMER_NAME: &str = "dedupe";

/// Batches judged at once: one, so batches are judged in stream order. A
/// content announcement compares with the latest checksum the one before it
/// wrote (a revert right after a change must see the change); with batches
/// judged side by side a later batch could overtake an earlier one, keep a
/// repeat instead of the first copy, or drop a revert. Within a batch,
/// visitor events are still judged concurrently.
const BATCHES_IN_FLIGHT: usize = 1;

/// How long a delivered message may stay unacknowledged before redelivery.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long one pull request waits for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Why dedupe stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS could not be reached, or a stream, bucket or the durable could
    /// not be declared.
    #[error("dedupe: {0}")]
    Nats(#[from] NatsError),
    /// The ops listener could not be bound.
    #[error("dedupe: {0}")]
    Bind(#[from] hookline_core::startup::BindError),
}

/// Serves `/healthz`, `/readyz`, `/metrics` on `ops.listen` and runs [`work`]
/// until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let listener = hookline_core::startup::bind(config.ops.listen).await?;
    let readiness = Readiness::new();
    readiness.setting_up(SETTING_UP);
    ops::spawn("dedupe", listener, readiness.clone(), shutdown.clone());
    work(config, readiness, shutdown).await
}

/// Consumes RC_RAW through the shared loop ([`hookline_core::consume`])
/// until `shutdown` fires, then stops fetching and finishes the batches in
/// flight (within `ops.shutdown_grace`; what is left is not acknowledged
/// and is redelivered).
pub async fn work(config: Config, readiness: Readiness, shutdown: Shutdown) -> Result<(), Error> {
    // Install the recorder before the first count, or early counts are lost.
    hookline_core::telemetry::prometheus();
    batch::describe_metrics();
    // Not ready until the streams, buckets and the durable exist.
    readiness.setting_up(SETTING_UP);
    let nats = Nats::connect_and_declare(&config).await?;
    let claims = claim::Claims::new(
        (
            nats::dedupe_bucket(&nats, &config, EventType::PageView).await?,
            config.dedupe.page_view_window,
        ),
        (
            nats::dedupe_bucket(&nats, &config, EventType::FormSubmission).await?,
            config.dedupe.form_window,
        ),
        (
            nats::dedupe_bucket(&nats, &config, EventType::ContentPublished).await?,
            config.dedupe.content_window,
        ),
        config.dedupe.cache_capacity,
    );
    let batch_size = config.dedupe.batch_size.max(1);
    let stream_name = nats.names.stream(RC_RAW);
    let limit = config.nats.connect_timeout;
    // Fails start-up if the consumer cannot be made within the time limit.
    consumer_on(&nats, &stream_name, batch_size, limit).await?;
    readiness.add_nats(&nats);
    readiness.set_up(SETTING_UP);
    tracing::info!(stream = %stream_name, consumer = CONSUMER_NAME, "dedupe consuming");
    let draining = readiness.clone();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        signal.wait().await;
        draining.set_draining();
    });

    let pull = Pull {
        name: CONSUMER_NAME.to_string(),
        batch_size,
        batches_in_flight: BATCHES_IN_FLIGHT,
        // Every batch in flight, and one more pulled ahead.
        capacity: batch_size * (BATCHES_IN_FLIGHT + 1),
        expires: PULL_EXPIRES,
        grace: config.ops.shutdown_grace,
    };
    // Declared again after a failed pull, so a consumer deleted by an
    // operator is re-created rather than pulled from forever.
    let open = || consumer_on(&nats, &stream_name, batch_size, limit);
    let (nats, claims) = (Arc::new(nats.clone()), Arc::new(claims));
    let handle = move |messages| {
        let (nats, claims) = (nats.clone(), claims.clone());
        async move { batch::process(&nats, &claims, messages).await }
    };
    consume::run(pull, shutdown, open, handle).await;
    Ok(())
}

async fn consumer_on(
    nats: &Nats,
    stream_name: &str,
    batch_size: usize,
    limit: Duration,
) -> Result<consumer::Consumer<pull::Config>, Error> {
    let want = pull::Config {
        durable_name: Some(CONSUMER_NAME.to_string()),
        description: Some("hookline dedupe: RC_RAW → RC_EVENTS".into()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: (batch_size * BATCHES_IN_FLIGHT * 4).max(1000) as i64,
        ..Default::default()
    };
    Ok(nats::ensure_consumer(&nats.js, stream_name, &want, Existing::Refuse, limit).await?)
}
