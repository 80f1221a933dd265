//! One batch of raw events: judge them all concurrently, publish the unique
//! ones with every PubAck in flight at once, then ack.
//!
//! The order inside a message's life is fixed — KV claim, publish with
//! `Nats-Msg-Id` = event id, ack — so a crash anywhere loses nothing (the
//! message is redelivered) and forwards nothing twice (the KV key holds the
//! event's own id, so the redelivery carries on, and RC_EVENTS drops the
//! repeated publish by its id).

use crate::claim::{ClaimError, Claims, Verdict};
use crate::key::{Class, classify};
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use futures::future::join_all;
use hookline_core::consume::{self, Decision, Retries};
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
    hookline_core::consumer_metrics::describe();
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
    let outcomes = judge_all(nats, claims, &messages).await;
    let published = forward(nats, &outcomes).await;
    let settled = messages
        .iter()
        .zip(&outcomes)
        .zip(published)
        .map(|((msg, outcome), published)| settle(nats, msg, outcome, published));
    join_all(settled).await;
    let elapsed = started.elapsed().as_secs_f64();
    for _ in 0..messages.len() {
        metrics::histogram!("hookline_dedupe_processing_seconds").record(elapsed);
    }
}

/// Publishes every event to forward, all PubAcks in flight at once. For
/// each message: whether its event was stored in RC_EVENTS (`None` when
/// there was nothing to forward).
async fn forward(nats: &Nats, outcomes: &[Outcome]) -> Vec<Option<bool>> {
    let mut outgoing = Vec::new();
    let mut forwarded_at = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let Outcome::Forward { event, headers, .. } = outcome else {
            continue;
        };
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
    published
}

/// Counts one message's outcome and settles it (see
/// [`hookline_core::consume::decide`]): acked once its event is forwarded
/// or dropped, nak'ed to try again, dead-lettered when unreadable.
async fn settle(nats: &Nats, msg: &Message, outcome: &Outcome, published: Option<bool>) {
    let counted = match (outcome, published) {
        (Outcome::Forward { .. }, Some(true)) | (Outcome::Duplicate(_) | Outcome::Bot(_), _) => {
            count(outcome);
            consume::Outcome::Done
        }
        (Outcome::Forward { .. }, _) => {
            error("publish");
            consume::Outcome::FAILED
        }
        (Outcome::Poison(_), _) => {
            error("decode");
            consume::Outcome::Poison
        }
        (Outcome::Retry, _) => {
            error("kv");
            consume::Outcome::FAILED
        }
    };
    let retries = Retries {
        max_deliver: i64::MAX,
        backoff: &[RETRY_DELAY],
        jitter: 1.0,
    };
    let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
    let done = match consume::decide(counted, delivered, &retries) {
        Decision::Ack => msg.ack_with(AckKind::Ack).await.is_ok(),
        Decision::Nak(delay) => {
            consume::settle(msg, AckKind::Nak(Some(delay)), CONSUMER).await;
            false
        }
        Decision::DeadLetter => {
            let Outcome::Poison(why) = outcome else {
                return;
            };
            dead_letter(nats, msg, why).await
        }
    };
    if done {
        metrics::counter!("hookline_consumer_processed_total", "consumer" => CONSUMER).increment(1);
    }
}

/// Counts an event forwarded or dropped.
fn count(outcome: &Outcome) {
    match outcome {
        Outcome::Forward {
            event,
            unidentified,
            ..
        } => {
            let kind = event.event_type().as_str();
            metrics::counter!("hookline_dedupe_unique_total", "type" => kind).increment(1);
            if *unidentified {
                metrics::counter!("hookline_dedupe_unidentified_total", "type" => kind)
                    .increment(1);
            }
        }
        Outcome::Duplicate(kind) => {
            metrics::counter!("hookline_dedupe_duplicate_total", "type" => kind.as_str())
                .increment(1);
        }
        Outcome::Bot(kind) => {
            metrics::counter!("hookline_dedupe_bot_total", "type" => kind.as_str()).increment(1);
        }
        Outcome::Poison(_) | Outcome::Retry => {}
    }
}

/// Counts a message dedupe could not settle, by stage.
fn error(stage: &'static str) {
    metrics::counter!("hookline_dedupe_errors_total", "stage" => stage).increment(1);
}

/// Publishes an unreadable raw event to `rc.dlq.dedupe` in the shared
/// dead-letter format and terminates it (if it cannot be stored, it is
/// nak'ed and tried again). Whether it was stored.
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
    let stored = consume::dead_letter(&nats.js, msg, &letter, RETRY_DELAY).await;
    if stored {
        metrics::counter!("hookline_consumer_dead_lettered_total", "consumer" => CONSUMER)
            .increment(1);
    }
    stored
}

/// Judges a batch: visitor events concurrently, content announcements one
/// after another in stream order, since each compares with the latest
/// checksum the one before it may have just written (a revert right after a
/// change must see the change). Outcomes come back in input order.
async fn judge_all(nats: &Nats, claims: &Claims, messages: &[Message]) -> Vec<Outcome> {
    let announcements = nats.names.raw_subject(EventType::ContentPublished);
    let is_announcement = |m: &Message| m.subject.as_str() == announcements;
    let in_order = async {
        let mut out = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if is_announcement(m) {
                out.push((i, judge(claims, m).await));
            }
        }
        out
    };
    let concurrent = join_all(
        messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !is_announcement(m))
            .map(|(i, m)| async move { (i, judge(claims, m).await) }),
    );
    let (mut first, second) = futures::join!(in_order, concurrent);
    first.extend(second);
    first.sort_by_key(|(i, _)| *i);
    first.into_iter().map(|(_, outcome)| outcome).collect()
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
    let outcome = classify_and_claim(claims, raw, &hop)
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

async fn classify_and_claim(claims: &Claims, raw: RawEvent, hop: &Hop) -> Outcome {
    let kind = raw.event.event_type();
    match classify(&raw) {
        Class::Bot => {
            tracing::debug!(event_id = %raw.event.id, "bot dropped");
            Outcome::Bot(kind)
        }
        Class::Unidentified => forward_outcome(raw.event, true, hop),
        Class::Keyed(keys) => verdict(claims.judge(kind, &keys, &raw.event.id).await, raw, hop),
        Class::Latest { key, checksum } => verdict(
            claims.latest(&key, &checksum, &raw.event.id).await,
            raw,
            hop,
        ),
    }
}

/// An event to forward, with the verdict's span in its headers.
fn forward_outcome(event: Event, unidentified: bool, hop: &Hop) -> Outcome {
    Outcome::Forward {
        event: Box::new(event),
        unidentified,
        headers: Box::new(hop.headers()),
    }
}

/// Forward or drop on a claim's verdict; retry when the KV store failed.
fn verdict(judged: Result<Verdict, ClaimError>, raw: RawEvent, hop: &Hop) -> Outcome {
    let kind = raw.event.event_type();
    match judged {
        Ok(Verdict::Mine) => forward_outcome(raw.event, false, hop),
        Ok(Verdict::Duplicate) => {
            tracing::debug!(event_id = %raw.event.id, "duplicate dropped");
            Outcome::Duplicate(kind)
        }
        Err(e) => {
            tracing::warn!(event_id = %raw.event.id, error = %e, "dedupe check failed; will retry");
            Outcome::Retry
        }
    }
}
