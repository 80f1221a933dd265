//! One consumer's loop: a durable pull consumer, batches, drain on shutdown.

use super::consumer::Consumer;
use super::process::process;
use super::settle::{self, Delivery};
use super::{RunnerError, Settings, Shared};
use crate::names;
use crate::nats::{self, Existing};
use crate::shutdown::Shutdown;
use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind, Stream};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

/// Pull requests expire after this (the server then answers, and the
/// client asks again); heartbeats detect a lost server well before.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);

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

/// Runs one consumer until `shutdown`: the current batch is finished, what
/// was prefetched is given back, and the function returns.
pub(super) async fn run(
    shared: Arc<Shared>,
    consumer: Arc<dyn Consumer>,
    mut durable: PullConsumer,
    shutdown: Shutdown,
) {
    let name = consumer.name();
    let mut pause = Duration::from_millis(250);
    while !shutdown.is_triggered() {
        let messages = durable
            .stream()
            .max_messages_per_batch(shared.settings.batch_size)
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await;
        let ended = match messages {
            Ok(mut messages) => {
                let ended = pump(&shared, &*consumer, &mut messages, &shutdown).await;
                if ended.is_none() {
                    give_back_prefetched(&shared, name, &mut messages).await;
                    return;
                }
                pause = Duration::from_millis(250);
                ended
            }
            Err(e) => Some(e.to_string()),
        };
        tracing::warn!(consumer = name, error = ?ended, retry_in = ?pause, "message stream ended; reopening it");
        if !sleep_unless(&shutdown, pause).await {
            return;
        }
        pause = (pause * 2).min(Duration::from_secs(10));
        // The durable may have been deleted (by an operator): declare it again.
        match ensure(&shared, name).await {
            Ok(d) => durable = d,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "could not re-declare the durable consumer")
            }
        }
    }
}

/// Gathers and processes batches until shutdown (`None`) or the message
/// stream fails (`Some(reason)`).
async fn pump(
    shared: &Shared,
    consumer: &dyn Consumer,
    messages: &mut Stream,
    shutdown: &Shutdown,
) -> Option<String> {
    let name = consumer.name();
    let batch_size = shared.settings.batch_size;
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.wait() => return None,
            next = messages.next() => next,
        };
        let mut batch = Vec::with_capacity(batch_size);
        let mut failure = match first {
            None => return Some("message stream closed".into()),
            Some(Ok(msg)) => {
                batch.push(Delivery::new(msg));
                None
            }
            Some(Err(e)) => Some(e),
        };
        // Take whatever else has already arrived: under load the next
        // messages are prefetched while a batch is processed, so batches
        // fill up by themselves; when idle, one event is not kept waiting.
        while failure.is_none() && batch.len() < batch_size {
            match messages.next().now_or_never() {
                Some(Some(Ok(msg))) => batch.push(Delivery::new(msg)),
                Some(Some(Err(e))) => failure = Some(e),
                Some(None) | None => break,
            }
        }
        if !batch.is_empty() {
            process(shared, consumer, batch, shutdown).await;
        }
        if let Some(err) = failure {
            match err.kind() {
                MessagesErrorKind::ConsumerDeleted
                | MessagesErrorKind::PushBasedConsumer
                | MessagesErrorKind::RequestLimitExceeded => return Some(err.to_string()),
                _ => {
                    // Missed heartbeats and failed pull requests while NATS
                    // reconnects: the stream recovers by itself.
                    tracing::warn!(consumer = name, error = %err, "pulling messages failed; retrying");
                    if !sleep_unless(shutdown, Duration::from_millis(500)).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Naks at once what was prefetched but not processed, so another instance
/// gets it now rather than after ack_wait.
async fn give_back_prefetched(shared: &Shared, name: &'static str, messages: &mut Stream) {
    let mut left = Vec::new();
    while left.len() < shared.settings.batch_size * 2 {
        match messages.next().now_or_never() {
            Some(Some(Ok(msg))) => left.push(Delivery::new(msg)),
            _ => break,
        }
    }
    settle::release_all(name, &left.iter().collect::<Vec<_>>()).await;
}

/// Sleeps unless shutdown comes first; `false` when it did.
async fn sleep_unless(shutdown: &Shutdown, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait() => false,
    }
}
