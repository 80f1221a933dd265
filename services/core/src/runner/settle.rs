//! Telling JetStream how each message ended: ack, nak with back-off, or
//! dead-letter to `CRM_DLQ` and terminate.

use super::Settings;
use super::metrics as m;
use crate::publish::{self, Outgoing};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind};
use futures::future::join_all;
use std::time::Duration;

/// Header naming the consumer that gave up on a dead letter.
pub const HEADER_CONSUMER: &str = "Hookline-Consumer";
/// Header with the last error (one line, at most 1,000 characters).
pub const HEADER_ERROR: &str = "Hookline-Error";
/// Header with the number of deliveries made.
pub const HEADER_DELIVERIES: &str = "Hookline-Deliveries";
/// Header with the subject the message came from.
pub const HEADER_SUBJECT: &str = "Hookline-Original-Subject";
/// Header with the message's sequence in `CRM_EVENTS`.
pub const HEADER_SEQUENCE: &str = "Hookline-Stream-Sequence";
/// Header with the event id, when the message parsed.
pub const HEADER_EVENT_ID: &str = "Hookline-Event-Id";

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

/// The delay before the next delivery after `delivered` deliveries.
pub(super) fn backoff(settings: &Settings, delivered: i64) -> Duration {
    let i = usize::try_from(delivered.max(1) - 1).unwrap_or(usize::MAX);
    settings
        .backoff
        .get(i)
        .or(settings.backoff.last())
        .copied()
        .unwrap_or(Duration::from_secs(1))
}

/// Acknowledges every message (after their effects committed).
pub(super) async fn ack_all(consumer: &'static str, deliveries: &[&Delivery]) {
    let results = join_all(deliveries.iter().map(|d| d.msg.ack())).await;
    for err in results.into_iter().filter_map(Result::err) {
        // Redelivery is harmless: processed_events turns it into a duplicate.
        tracing::warn!(consumer, error = %err, "ack failed; the message will be redelivered and skipped");
    }
}

/// Naks every message with the back-off for its delivery count.
pub(super) async fn nak_all(settings: &Settings, consumer: &'static str, deliveries: &[&Delivery]) {
    let results = join_all(deliveries.iter().map(|d| {
        d.msg
            .ack_with(AckKind::Nak(Some(backoff(settings, d.delivered))))
    }))
    .await;
    for err in results.into_iter().filter_map(Result::err) {
        tracing::warn!(consumer, error = %err, "nak failed; the message will come back after ack_wait");
    }
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

/// Publishes the message to `crm.dlq.<consumer>` with the error in headers,
/// then terminates it. If the dead letter cannot be published, the message
/// is nak'ed instead: it is never dropped.
pub(super) async fn dead_letter(
    js: &jetstream::Context,
    settings: &Settings,
    consumer: &'static str,
    delivery: &Delivery,
    event_id: Option<&str>,
    error: &str,
) {
    let subject = settings.names.crm_dlq_subject(consumer);
    let key = event_id
        .map(str::to_string)
        .unwrap_or_else(|| format!("seq-{}", delivery.stream_sequence));
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_CONSUMER, consumer);
    headers.insert(HEADER_ERROR, one_line(error).as_str());
    headers.insert(HEADER_DELIVERIES, delivery.delivered.to_string().as_str());
    headers.insert(HEADER_SUBJECT, delivery.subject());
    headers.insert(
        HEADER_SEQUENCE,
        delivery.stream_sequence.to_string().as_str(),
    );
    if let Some(id) = event_id {
        headers.insert(HEADER_EVENT_ID, id);
    }
    let outgoing = Outgoing {
        subject,
        msg_id: format!("{consumer}:{key}"),
        headers: Some(headers),
        payload: delivery.msg.payload.clone(),
    };
    match publish::publish(js, &outgoing).await {
        Ok(_) => {
            tracing::error!(consumer, event_id = %key, deliveries = delivery.delivered, error, "event dead-lettered to CRM_DLQ");
            m::count(m::DEAD_LETTERED, consumer, 1);
            if let Err(err) = delivery.msg.ack_with(AckKind::Term).await {
                tracing::warn!(consumer, event_id = %key, error = %err, "terminating a dead-lettered message failed; it may be dead-lettered again");
            }
        }
        Err(err) => {
            tracing::error!(consumer, event_id = %key, error = %err, "could not publish to CRM_DLQ; will retry the event");
            nak_all(settings, consumer, &[delivery]).await;
        }
    }
}

/// Header values are one line of visible text.
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect();
    if out.trim().is_empty() {
        out = "unknown error".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(backoff: &[u64]) -> Settings {
        Settings {
            names: crate::Names::default(),
            batch_size: 10,
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            backoff: backoff.iter().copied().map(Duration::from_secs).collect(),
            shutdown_grace: Duration::from_secs(1),
            setup_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_follows_delivery_count_and_repeats_the_last() {
        let s = settings(&[1, 5, 30]);
        assert_eq!(backoff(&s, 1), Duration::from_secs(1));
        assert_eq!(backoff(&s, 2), Duration::from_secs(5));
        assert_eq!(backoff(&s, 3), Duration::from_secs(30));
        assert_eq!(backoff(&s, 9), Duration::from_secs(30));
        assert_eq!(backoff(&s, 0), Duration::from_secs(1));
        assert_eq!(backoff(&settings(&[]), 4), Duration::from_secs(1));
    }

    #[test]
    fn header_values_are_single_lines() {
        assert_eq!(one_line("a\r\nb"), "a  b");
        assert_eq!(one_line("\n"), "unknown error");
        assert_eq!(one_line(&"x".repeat(5000)).len(), 1000);
    }
}
