//! Telling JetStream how each message ended: ack, nak with back-off, or
//! dead-letter to `CRM_DLQ` and terminate.

use super::metrics as m;
use super::{Settings, Shared};
use async_nats::jetstream::{self, AckKind};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use hookline_core::consume;
use hookline_core::dlq::{self, DeadLetter};
use hookline_core::names;
use std::time::Duration;

/// A received message and what the runner knows about it.
pub(super) struct Delivery {
    pub msg: jetstream::Message,
    /// How many times JetStream has delivered it (1 the first time).
    pub delivered: i64,
    /// Its sequence in the stream (identifies unparseable messages).
    pub stream_sequence: u64,
}

impl Delivery {
    pub fn new(msg: jetstream::Message) -> Self {
        let (delivered, stream_sequence) = msg
            .info()
            .map(|i| (i.delivered, i.stream_sequence))
            .unwrap_or((1, 0));
        Self {
            msg,
            delivered,
            stream_sequence,
        }
    }

    fn subject(&self) -> &str {
        self.msg.subject.as_str()
    }
}

/// Acknowledges every message (after their effects committed).
pub(super) async fn ack_all(consumer: &'static str, deliveries: &[&Delivery]) {
    let results = join_all(deliveries.iter().map(|d| d.msg.ack())).await;
    for err in results.into_iter().filter_map(Result::err) {
        // Redelivery is harmless: processed_events turns it into a duplicate.
        tracing::warn!(consumer, error = %err, "ack failed; the message will be redelivered and skipped");
    }
}

/// Naks a message: JetStream delivers it again after `delay`.
pub(super) async fn nak(consumer: &'static str, delivery: &Delivery, delay: Duration) {
    consume::settle(&delivery.msg, AckKind::Nak(Some(delay)), consumer).await;
}

/// Naks at once, for redelivery elsewhere (on shutdown).
pub(super) async fn release_all(consumer: &'static str, deliveries: &[&Delivery]) {
    let results = join_all(
        deliveries
            .iter()
            .map(|d| d.msg.ack_with(AckKind::Nak(None))),
    )
    .await;
    for err in results.into_iter().filter_map(Result::err) {
        tracing::debug!(consumer, error = %err, "nak on shutdown failed");
    }
}

/// Tells JetStream the messages are still being worked on (resets ack_wait
/// without counting a delivery), while the batch waits for Postgres.
pub(super) async fn in_progress(deliveries: &[&Delivery]) {
    join_all(deliveries.iter().map(|d| d.msg.ack_with(AckKind::Progress))).await;
}

/// Publishes the message to `crm.dlq.<consumer>` in the shared dead-letter
/// format, then terminates it. If the dead letter cannot be published, the
/// message is nak'ed instead: it is never dropped.
pub(super) async fn dead_letter(
    shared: &Shared,
    consumer: &'static str,
    delivery: &Delivery,
    event_id: Option<&str>,
    error: &str,
) {
    let settings = &shared.settings;
    let now = Utc::now();
    let letter = DeadLetter {
        subject: settings.names.crm_dlq_subject(consumer),
        consumer: consumer.to_string(),
        error: error.to_string(),
        attempts: delivery.delivered,
        source_stream: settings.names.stream(names::CRM_EVENTS),
        source_subject: delivery.subject().to_string(),
        source_sequence: delivery.stream_sequence,
        original_msg_id: dlq::msg_id_of(delivery.msg.headers.as_ref()),
        event_id: event_id.map(str::to_string),
        last_status: None,
        first_failed_at: first_failure(settings, delivery.delivered, now),
        failed_at: now,
        payload: delivery.msg.payload.clone(),
    };
    let retry_in = settings.retries(i64::MAX).step(delivery.delivered);
    if consume::dead_letter(&shared.js, &delivery.msg, &letter, retry_in).await {
        let key = event_id
            .map(str::to_string)
            .unwrap_or_else(|| format!("seq-{}", delivery.stream_sequence));
        tracing::error!(consumer, event_id = %key, deliveries = delivery.delivered, error, "event dead-lettered to CRM_DLQ");
        m::count(m::DEAD_LETTERED, consumer, 1);
    }
}

/// When the first of `delivered` deliveries failed. The runner keeps no log
/// of attempts, so this walks the back-off schedule back from now: exact
/// when deliveries followed the schedule, earlier-bounded otherwise.
fn first_failure(settings: &Settings, delivered: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    let retries = settings.retries(i64::MAX);
    let waited: Duration = (1..delivered.max(1)).map(|d| retries.step(d)).sum();
    now - chrono::Duration::from_std(waited).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(backoff: &[u64]) -> Settings {
        Settings {
            names: hookline_core::Names::default(),
            batch_size: 10,
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            backoff: backoff.iter().copied().map(Duration::from_secs).collect(),
            shutdown_grace: Duration::from_secs(1),
            setup_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_first_failure_walks_the_back_off_back() {
        let s = settings(&[1, 5, 30]);
        let now = Utc::now();
        assert_eq!(first_failure(&s, 1, now), now);
        assert_eq!(
            first_failure(&s, 3, now),
            now - chrono::Duration::seconds(6)
        );
    }
}
