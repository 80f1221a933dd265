//! Giving up on one webhook's event: the event goes to `rc.dlq.<webhook id>`
//! in the shared dead-letter format, and only once that is stored is the
//! source message terminated (see [`hookline_core::consume::dead_letter`]).

use super::Ctx;
use crate::store::{WebhookId, attempts};
use async_nats::jetstream::Message;
use chrono::Utc;
use hookline_core::consume;
use hookline_core::dlq::{self, DeadLetter};
use hookline_core::names::RC_EVENTS;
use std::time::Duration;

/// How long a message whose dead letter could not be stored waits before
/// it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Publishes the original event to `rc.dlq.<webhook id>` in the shared
/// dead-letter format and settles the source message: terminated once the
/// dead letter is stored, nak'ed to try again if not. Whether it was stored.
pub(super) async fn dead_letter(
    ctx: &Ctx,
    webhook_id: &WebhookId,
    failure: Failure<'_>,
    msg: &Message,
) -> bool {
    let now = Utc::now();
    let first = match failure.event_id {
        Some(id) => attempts::first_failure(&ctx.pool, webhook_id, id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(webhook = %webhook_id, event_id = %id, error = %e, "cannot read the first failure; using now");
                None
            }),
        None => None,
    };
    let letter = DeadLetter {
        subject: ctx.nats.names.rc_dlq_subject(webhook_id.as_str()),
        consumer: webhook_id.to_string(),
        error: failure.error.to_string(),
        attempts: failure.attempts,
        source_stream: ctx.nats.names.stream(RC_EVENTS),
        source_subject: msg.subject.to_string(),
        source_sequence: failure.seq,
        original_msg_id: dlq::msg_id_of(msg.headers.as_ref()),
        event_id: failure.event_id.map(str::to_string),
        last_status: failure.status,
        first_failed_at: first.unwrap_or(now),
        failed_at: now,
        payload: msg.payload.clone(),
    };
    let stored = consume::dead_letter(&ctx.nats.js, msg, &letter, RETRY).await;
    if stored {
        metrics::counter!("hookline_webhook_dead_lettered_total", "webhook" => webhook_id.to_string())
            .increment(1);
        if let Some(ops) = &ctx.ops {
            let data = serde_json::json!({
                "webhook_id": webhook_id,
                "event_id": failure.event_id,
                "attempts": failure.attempts,
                "last_status": failure.status,
                "error": dlq::one_line(failure.error),
            });
            ops.emit(crate::ops_events::ATTEMPT_EXHAUSTED, data);
        }
    }
    stored
}

/// Why and when a delivery was given up.
pub(super) struct Failure<'a> {
    pub event_id: Option<&'a str>,
    pub seq: u64,
    pub attempts: i64,
    pub status: Option<u16>,
    pub error: &'a str,
}
