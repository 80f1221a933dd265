//! One consumer's durable and its loop.

use super::consumer::Consumer;
use super::process::process;
use super::settle::Delivery;
use super::{RunnerError, Settings, Shared};
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use hookline_core::consume::{self, Pull};
use hookline_core::names;
use hookline_core::nats::{self, Existing};
use hookline_core::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// Pull requests expire after this (the server then answers, and the loop
/// asks again), which also bounds how long a request lost with a
/// restarting server is waited for.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The durable's configuration.
pub(super) fn durable_config(settings: &Settings, name: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(name.to_string()),
        description: Some(format!("hookline CRM consumer {name}")),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: settings.server_max_deliver(),
        filter_subject: settings.names.subject("crm.events.>"),
        // Room for a batch being processed plus the prefetched next ones, on
        // a few instances.
        max_ack_pending: (settings.batch_size as i64 * 4).max(1000),
        ..Default::default()
    }
}

/// Creates the durable, or updates it to the current settings: compare
/// first, waiting up to `nats.connect_timeout` while JetStream is not ready.
pub(super) async fn ensure(shared: &Shared, name: &str) -> Result<PullConsumer, RunnerError> {
    let stream_name = shared.settings.names.stream(names::CRM_EVENTS);
    nats::ensure_consumer(
        &shared.js,
        &stream_name,
        &durable_config(&shared.settings, name),
        Existing::Refuse,
        shared.settings.setup_timeout,
    )
    .await
    .map_err(|source| RunnerError::Setup {
        consumer: name.to_string(),
        source,
    })
}

/// Runs one consumer until `shutdown` through the shared consume loop
/// ([`hookline_core::consume`]): one batch at a time, the next one pulled while it
/// is applied; on shutdown the batch in hand is finished, what was pulled
/// ahead is given back, and the function returns within the grace period.
pub(super) async fn run(
    shared: Arc<Shared>,
    consumer: Arc<dyn Consumer>,
    durable: PullConsumer,
    shutdown: Shutdown,
) {
    let name = consumer.name();
    let batch_size = shared.settings.batch_size;
    let pull = Pull {
        name: name.to_string(),
        batch_size,
        batches_in_flight: 1,
        capacity: batch_size * 2,
        expires: PULL_EXPIRES,
        grace: shared.settings.shutdown_grace,
    };
    // The durable declared at start-up first; after a failed pull it is
    // declared again (an operator may have deleted it).
    let mut declared = Some(durable);
    let open = || {
        let first = declared.take();
        let shared = shared.clone();
        async move {
            match first {
                Some(durable) => Ok(durable),
                None => ensure(&shared, name).await,
            }
        }
    };
    let stop = shutdown.clone();
    let handler = shared.clone();
    let handle = move |messages: Vec<Message>| {
        let (shared, consumer, stop) = (handler.clone(), consumer.clone(), stop.clone());
        async move {
            let batch = messages.into_iter().map(Delivery::new).collect();
            process(&shared, &*consumer, batch, &stop).await;
        }
    };
    consume::run(pull, shutdown, open, handle).await;
}
