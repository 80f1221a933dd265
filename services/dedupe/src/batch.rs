//! One batch of raw events: judge them all concurrently, publish the unique
//! ones with every PubAck in flight at once, then ack.
//!
//! The order inside a message's life is fixed — KV claim, publish with
//! `Nats-Msg-Id` = event id, ack — so a crash anywhere loses nothing (the
//! message is redelivered) and forwards nothing twice (the KV key holds the
//! event's own id, so the redelivery carries on, and RC_EVENTS drops the
//! repeated publish by its id).

use crate::claim::{Claims, Verdict};
use crate::key::{Class, classify};
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use futures::future::join_all;
use hookline_core::dlq::{self, DeadLetter};
use hookline_core::event::{Event, EventType, RawEvent};
use hookline_core::hop::Hop;
use hookline_core::names::RC_RAW;
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish_batch};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a message whose KV claim or publish failed waits before it is
/// redelivered.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The consumer name in metrics.
pub const CONSUMER: &str = "dedupe";

/// What happens to one message.
enum Outcome {
    /// First in its window (or unidentifiable): forward.
    Forward {
        event: Box<Event>,
        unidentified: bool,
        /// Carries the verdict's span on to RC_EVENTS.
        headers: Box<async_nats::HeaderMap>,
    },
    /// Another event owns the key.
    Duplicate(EventType),
    /// A crawler.
    Bot(EventType),
    /// Not a raw event at all: it can never succeed, so it goes to
    /// `rc.dlq.dedupe` (the reason inside) and is terminated.
    Poison(String),
    /// The KV store failed: nak, try again later.
    Retry,
}

/// Registers the `# HELP` text of dedupe's metrics (harmless to call more
/// than once).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    hookline_core::runner::metrics::describe();
    describe_counter!(
        "hookline_dedupe_unique_total",
        "Raw events forwarded to RC_EVENTS as first in their window, by type"
    );
    describe_counter!(
        "hookline_dedupe_duplicate_total",
        "Raw events dropped as duplicates, by type"
    );
    describe_counter!(
        "hookline_dedupe_bot_total",
        "Raw events dropped as crawlers, by type"
    );
    describe_counter!(
        "hookline_dedupe_unidentified_total",
        "Raw events forwarded unkeyed: nothing identified the visitor"
    );
    describe_counter!(
        "hookline_dedupe_errors_total",
        "Raw events dedupe could not settle, by stage (decode, kv, publish)"
    );
    describe_counter!(
        "hookline_dedupe_cache_hits_total",
        "Dedupe decisions answered from the in-process cache"
    );
    describe_histogram!(
        "hookline_dedupe_processing_seconds",
        Unit::Seconds,
        "Time to judge, forward and acknowledge one batch of raw events"
    );
}

/// Processes one batch to the end (every message acked, nak'ed or termed).
pub async fn process(nats: &Nats, claims: &Claims, messages: Vec<Message>) {
    let started = Instant::now();
    let outcomes = join_all(messages.iter().map(|m| judge(claims, m))).await;

    let mut outgoing = Vec::new();
    let mut forwarded_at = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        if let Outcome::Forward { event, headers, .. } = outcome {
            match serde_json::to_vec(event) {
                Ok(payload) => {
                    let mut out = Outgoing::new(
                        nats.names.rc_event_subject(event.event_type()),
                        event.id.as_str(),
                        payload.into(),
                    );
                    out.headers = Some((**headers).clone());
                    outgoing.push(out);
                    forwarded_at.push(i);
                }
                Err(e) => {
                    tracing::error!(event_id = %event.id, error = %e, "event did not serialise")
                }
            }
        }
    }
    let mut published = vec![None; outcomes.len()];
    for (i, result) in forwarded_at
        .into_iter()
        .zip(publish_batch(&nats.js, &outgoing).await)
    {
        published[i] = Some(result.is_ok());
        if let (Err(e), Outcome::Forward { event, .. }) = (&result, &outcomes[i]) {
            tracing::warn!(event_id = %event.id, error = %e, "publish to RC_EVENTS failed; will retry");
        }
    }

    let acks = messages.iter().zip(&outcomes).zip(published).map(
        |((msg, outcome), published)| async move {
            let ack = match (outcome, published) {
                (
                    Outcome::Forward {
                        event,
                        unidentified,
                        ..
                    },
                    Some(true),
                ) => {
                    let kind = event.event_type().as_str();
                    metrics::counter!("hookline_dedupe_unique_total", "type" => kind).increment(1);
                    if *unidentified {
                        metrics::counter!("hookline_dedupe_unidentified_total", "type" => kind)
                            .increment(1);
                    }
                    AckKind::Ack
                }
                (Outcome::Forward { .. }, _) => {
                    metrics::counter!("hookline_dedupe_errors_total", "stage" => "publish")
                        .increment(1);
                    AckKind::Nak(Some(RETRY_DELAY))
                }
                (Outcome::Duplicate(kind), _) => {
                    metrics::counter!("hookline_dedupe_duplicate_total", "type" => kind.as_str())
                        .increment(1);
                    AckKind::Ack
                }
                (Outcome::Bot(kind), _) => {
                    metrics::counter!("hookline_dedupe_bot_total", "type" => kind.as_str())
                        .increment(1);
                    AckKind::Ack
                }
                (Outcome::Poison(error), _) => {
                    metrics::counter!("hookline_dedupe_errors_total", "stage" => "decode")
                        .increment(1);
                    if dead_letter(nats, msg, error).await {
                        AckKind::Term
                    } else {
                        AckKind::Nak(Some(RETRY_DELAY))
                    }
                }
                (Outcome::Retry, _) => {
                    metrics::counter!("hookline_dedupe_errors_total", "stage" => "kv").increment(1);
                    AckKind::Nak(Some(RETRY_DELAY))
                }
            };
            let done = matches!(ack, AckKind::Ack | AckKind::Term);
            if let Err(e) = msg.ack_with(ack).await {
                // Not acknowledged: it comes back and is judged again ("mine").
                tracing::warn!(error = %e, "could not acknowledge a raw event");
            } else if done {
                metrics::counter!("hookline_consumer_processed_total", "consumer" => CONSUMER)
                    .increment(1);
            }
        },
    );
    join_all(acks).await;
    let elapsed = started.elapsed().as_secs_f64();
    for _ in 0..messages.len() {
        metrics::histogram!("hookline_dedupe_processing_seconds").record(elapsed);
    }
}

/// Publishes an unreadable raw event to `rc.dlq.dedupe` in the shared
/// dead-letter format. Whether it was stored (if not, it is retried).
async fn dead_letter(nats: &Nats, msg: &Message, error: &str) -> bool {
    let (attempts, seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let now = Utc::now();
    let letter = DeadLetter {
        subject: nats.names.rc_dlq_subject(dlq::DEDUPE_CONSUMER),
        consumer: dlq::DEDUPE_CONSUMER.to_string(),
        error: error.to_string(),
        attempts,
        source_stream: nats.names.stream(RC_RAW),
        source_subject: msg.subject.to_string(),
        source_sequence: seq,
        original_msg_id: dlq::msg_id_of(msg.headers.as_ref()),
        event_id: None,
        last_status: None,
        // Judged on its first delivery: it failed then, and for good.
        first_failed_at: now,
        failed_at: now,
        payload: msg.payload.clone(),
    };
    match dlq::publish(&nats.js, &letter).await {
        Ok(_) => {
            metrics::counter!("hookline_consumer_dead_lettered_total", "consumer" => CONSUMER)
                .increment(1);
            true
        }
        Err(e) => {
            tracing::warn!(seq, error = %e, "dead-letter publish failed; will retry");
            false
        }
    }
}

/// Decodes one raw event and judges it inside its hop span (the span the
/// forwarded copy's `traceparent` names).
async fn judge(claims: &Claims, msg: &Message) -> Outcome {
    let raw: RawEvent = match serde_json::from_slice(&msg.payload) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::error!(subject = %msg.subject, error = %e, "not a raw event; dead-lettering it");
            return Outcome::Poison(format!("not a raw event: {e}"));
        }
    };
    let hop = Hop::from_nats(
        "dedupe",
        "verdict",
        msg.headers.as_ref(),
        raw.event.id.as_str(),
    );
    let outcome = verdict(claims, raw, &hop)
        .instrument(hop.span().clone())
        .await;
    hop.outcome(match &outcome {
        Outcome::Forward { .. } => "unique",
        Outcome::Duplicate(_) => "duplicate",
        Outcome::Bot(_) => "bot",
        Outcome::Poison(_) | Outcome::Retry => "retry",
    });
    outcome
}

async fn verdict(claims: &Claims, raw: RawEvent, hop: &Hop) -> Outcome {
    let kind = raw.event.event_type();
    let forward = |event, unidentified| Outcome::Forward {
        event: Box::new(event),
        unidentified,
        headers: Box::new(hop.headers()),
    };
    match classify(&raw) {
        Class::Bot => {
            tracing::debug!(event_id = %raw.event.id, "bot dropped");
            Outcome::Bot(kind)
        }
        Class::Unidentified => forward(raw.event, true),
        Class::Keyed(keys) => match claims.judge(kind, &keys, &raw.event.id).await {
            Ok(Verdict::Mine) => forward(raw.event, false),
            Ok(Verdict::Duplicate) => {
                tracing::debug!(event_id = %raw.event.id, "duplicate dropped");
                Outcome::Duplicate(kind)
            }
            Err(e) => {
                tracing::warn!(event_id = %raw.event.id, error = %e, "dedupe check failed; will retry");
                Outcome::Retry
            }
        },
    }
}
