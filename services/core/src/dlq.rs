//! The one dead-letter format, and the one publisher every writer uses.
//!
//! Three places give up on a message: dedupe (a raw event it cannot read),
//! webhook-out (a webhook's retry schedule ran out) and the CRM consumer
//! runner (a handler kept failing). Each publishes the original payload,
//! byte for byte, to its dead-letter stream (`RC_DLQ`: `rc.dlq.<webhook id>`
//! or `rc.dlq.dedupe`; `CRM_DLQ`: `crm.dlq.<consumer>`) with the same
//! headers, so `hookline dlq` and any operator tooling read one vocabulary:
//!
//! | header | value |
//! |---|---|
//! | `Hookline-Error` | the last error, one line, at most 1,000 characters |
//! | `Hookline-Attempts` | deliveries made before giving up |
//! | `Hookline-Source-Stream` | the stream the message came from |
//! | `Hookline-Source-Subject` | its subject there |
//! | `Hookline-Source-Sequence` | its sequence there |
//! | `Hookline-Consumer` | the consumer name or webhook id that gave up |
//! | `Hookline-First-Failed-At` / `Hookline-Failed-At` | RFC 3339 times |
//! | `Hookline-Original-Msg-Id` | the source message's `Nats-Msg-Id` |
//! | `Hookline-Event-Id` | the event id, when the payload parsed |
//! | `Hookline-Last-Status` | the receiver's last HTTP status (webhooks) |
//!
//! The dead letter's own `Nats-Msg-Id` is `<consumer>:<event id or
//! seq-N>:<source sequence>`: a publish retried after a lost PubAck is
//! dropped by the stream's duplicate window, while a redriven copy (a new
//! source sequence) that fails again is a new dead letter, not a duplicate.

use crate::publish::{self, Outgoing};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

/// The last error.
pub const ERROR: &str = "Hookline-Error";
/// Deliveries made before giving up.
pub const ATTEMPTS: &str = "Hookline-Attempts";
/// The stream the message was read from.
pub const SOURCE_STREAM: &str = "Hookline-Source-Stream";
/// The subject the message was read from.
pub const SOURCE_SUBJECT: &str = "Hookline-Source-Subject";
/// The message's sequence in its source stream.
pub const SOURCE_SEQUENCE: &str = "Hookline-Source-Sequence";
/// The consumer name or webhook id that gave up: where a redrive goes.
pub const CONSUMER: &str = "Hookline-Consumer";
/// When the first delivery failed.
pub const FIRST_FAILED_AT: &str = "Hookline-First-Failed-At";
/// When the writer gave up.
pub const FAILED_AT: &str = "Hookline-Failed-At";
/// The source message's `Nats-Msg-Id`.
pub const ORIGINAL_MSG_ID: &str = "Hookline-Original-Msg-Id";
/// The event id, when the payload is an event.
pub const EVENT_ID: &str = "Hookline-Event-Id";
/// The receiver's last HTTP status, for webhook dead letters.
pub const LAST_STATUS: &str = "Hookline-Last-Status";

/// Deliveries JetStream may make beyond the writer's own limit. Writers
/// dead-letter on their last attempt themselves; the margin covers
/// deliveries that never reached the code that counts (a crash, a shutdown,
/// an ack_wait expiry), so the server's `max_deliver` never drops a message
/// silently before its writer could dead-letter it.
pub const MAX_DELIVER_MARGIN: i64 = 4;

/// The consumer name dedupe's dead letters carry (`rc.dlq.dedupe`).
pub const DEDUPE_CONSUMER: &str = "dedupe";

/// One dead letter, before it is published.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Full (prefixed) dead-letter subject.
    pub subject: String,
    /// Consumer name or webhook id that gave up.
    pub consumer: String,
    /// Why, as the writer saw it last.
    pub error: String,
    /// Deliveries made.
    pub attempts: i64,
    /// Full (prefixed) source stream name.
    pub source_stream: String,
    /// Full source subject.
    pub source_subject: String,
    /// Sequence in the source stream.
    pub source_sequence: u64,
    /// The source message's `Nats-Msg-Id`, if it had one.
    pub original_msg_id: Option<String>,
    /// The event id, if the payload parsed.
    pub event_id: Option<String>,
    /// The receiver's last HTTP status, for webhooks.
    pub last_status: Option<u16>,
    /// When the first delivery failed (the writer's best knowledge).
    pub first_failed_at: DateTime<Utc>,
    /// When the writer gave up.
    pub failed_at: DateTime<Utc>,
    /// The original payload.
    pub payload: Bytes,
}

impl DeadLetter {
    /// The dead letter's `Nats-Msg-Id` (see the module docs).
    pub fn msg_id(&self) -> String {
        let key = self
            .event_id
            .clone()
            .unwrap_or_else(|| format!("seq-{}", self.source_sequence));
        format!("{}:{key}:{}", self.consumer, self.source_sequence)
    }

    /// The headers of the format.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ERROR, one_line(&self.error).as_str());
        h.insert(ATTEMPTS, self.attempts.to_string().as_str());
        h.insert(SOURCE_STREAM, self.source_stream.as_str());
        h.insert(SOURCE_SUBJECT, self.source_subject.as_str());
        h.insert(SOURCE_SEQUENCE, self.source_sequence.to_string().as_str());
        h.insert(CONSUMER, self.consumer.as_str());
        h.insert(FIRST_FAILED_AT, rfc3339(&self.first_failed_at).as_str());
        h.insert(FAILED_AT, rfc3339(&self.failed_at).as_str());
        if let Some(id) = &self.original_msg_id {
            h.insert(ORIGINAL_MSG_ID, one_line(id).as_str());
        }
        if let Some(id) = &self.event_id {
            h.insert(EVENT_ID, id.as_str());
        }
        if let Some(s) = self.last_status {
            h.insert(LAST_STATUS, s.to_string().as_str());
        }
        h
    }
}

/// Publishes a dead letter and waits for its PubAck (retrying transient
/// failures like every publish). Only after `Ok` may the writer settle the
/// source message; on `Err` it must leave it for redelivery.
pub async fn publish(
    js: &jetstream::Context,
    letter: &DeadLetter,
) -> Result<PublishAck, PublishError> {
    let out = Outgoing {
        subject: letter.subject.clone(),
        msg_id: letter.msg_id(),
        headers: Some(letter.headers()),
        payload: letter.payload.clone(),
    };
    publish::publish(js, &out).await
}

/// The source message's `Nats-Msg-Id`, if any.
pub fn msg_id_of(headers: Option<&HeaderMap>) -> Option<String> {
    headers
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_string())
}

/// Times in headers: RFC 3339, milliseconds, `Z`.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Header values are one line of visible text.
pub fn one_line(s: &str) -> String {
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

    fn letter() -> DeadLetter {
        let t = DateTime::parse_from_rfc3339("2026-10-13T07:58:00Z")
            .unwrap()
            .with_timezone(&Utc);
        DeadLetter {
            subject: "rc.dlq.wh_1".into(),
            consumer: "wh_1".into(),
            error: "HTTP 500\nboom".into(),
            attempts: 3,
            source_stream: "RC_EVENTS".into(),
            source_subject: "rc.events.page_view".into(),
            source_sequence: 42,
            original_msg_id: Some("evt_1".into()),
            event_id: Some("evt_1".into()),
            last_status: Some(500),
            first_failed_at: t,
            failed_at: t,
            payload: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn every_header_of_the_format_is_written() {
        let h = letter().headers();
        let get = |n: &str| h.get(n).map(|v| v.as_str().to_string());
        assert_eq!(get(ERROR).as_deref(), Some("HTTP 500 boom"));
        assert_eq!(get(ATTEMPTS).as_deref(), Some("3"));
        assert_eq!(get(SOURCE_STREAM).as_deref(), Some("RC_EVENTS"));
        assert_eq!(get(SOURCE_SUBJECT).as_deref(), Some("rc.events.page_view"));
        assert_eq!(get(SOURCE_SEQUENCE).as_deref(), Some("42"));
        assert_eq!(get(CONSUMER).as_deref(), Some("wh_1"));
        assert_eq!(
            get(FIRST_FAILED_AT).as_deref(),
            Some("2026-10-13T07:58:00.000Z")
        );
        assert_eq!(get(FAILED_AT).as_deref(), Some("2026-10-13T07:58:00.000Z"));
        assert_eq!(get(ORIGINAL_MSG_ID).as_deref(), Some("evt_1"));
        assert_eq!(get(EVENT_ID).as_deref(), Some("evt_1"));
        assert_eq!(get(LAST_STATUS).as_deref(), Some("500"));
    }

    #[test]
    fn the_msg_id_differs_per_source_message() {
        let mut l = letter();
        assert_eq!(l.msg_id(), "wh_1:evt_1:42");
        l.source_sequence = 43;
        assert_eq!(l.msg_id(), "wh_1:evt_1:43");
        l.event_id = None;
        assert_eq!(l.msg_id(), "wh_1:seq-43:43");
    }

    #[test]
    fn header_values_are_single_lines() {
        assert_eq!(one_line("a\r\nb"), "a  b");
        assert_eq!(one_line("\n"), "unknown error");
        assert_eq!(one_line(&"x".repeat(5000)).len(), 1000);
    }
}
