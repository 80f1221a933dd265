//! What operators do with dead letters: list, show, redrive, purge.
//!
//! Both the `hookline dlq` command and webhook-out's `/v1/dlq` routes call
//! these functions, so the two can never disagree. Entries are addressed by
//! their stream (`rc` = `RC_DLQ`, `crm` = `CRM_DLQ`) and sequence, shown as
//! `rc:12`; a bare sequence is looked up in both streams.
//!
//! Listing reads through a short-lived ephemeral consumer filtered to the
//! subjects asked for, started at `since` when given, and stops after the
//! number of messages the server said were pending: it never waits for
//! messages that are not there. See [`redrive`] for how an entry goes back to
//! the one consumer or webhook that gave up on it.

pub mod redrive;
pub mod select;

use crate::dlq;
use crate::names::{self, Names};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which dead-letter stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// `RC_DLQ`: dedupe and webhook-out.
    Rc,
    /// `CRM_DLQ`: the CRM consumers.
    Crm,
}

impl Side {
    /// Both streams, in listing order.
    pub const ALL: [Side; 2] = [Side::Rc, Side::Crm];

    /// `rc` or `crm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Rc => "rc",
            Side::Crm => "crm",
        }
    }

    /// `rc` or `crm`, as typed by an operator.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rc" => Some(Side::Rc),
            "crm" => Some(Side::Crm),
            _ => None,
        }
    }

    /// The unprefixed stream name.
    pub fn stream(self) -> &'static str {
        match self {
            Side::Rc => names::RC_DLQ,
            Side::Crm => names::CRM_DLQ,
        }
    }

    /// The unprefixed dead-letter subject of `consumer`.
    pub fn subject(self, consumer: &str) -> String {
        format!("{}.dlq.{consumer}", self.as_str())
    }
}

/// Why a dead-letter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// A consumer name that cannot be a subject token.
    #[error("invalid consumer name {0:?}: use letters, digits, `-` and `_`")]
    InvalidConsumer(String),
    /// An entry reference that is neither `N`, `rc:N` nor `crm:N`.
    #[error("invalid entry {0:?}: expected a sequence number, `rc:N` or `crm:N`")]
    InvalidEntry(String),
    /// No such entry.
    #[error("no dead letter {0}")]
    NotFound(String),
    /// A bare sequence present in both streams.
    #[error("sequence {0} exists in RC_DLQ and CRM_DLQ; say rc:{0} or crm:{0}")]
    Ambiguous(u64),
    /// A selection that names nothing, or too much, or a bad `since`.
    #[error("{0}")]
    Selection(String),
    /// NATS refused or failed.
    #[error("NATS: {0}")]
    Nats(#[source] async_nats::Error),
}

fn nats_err(e: impl Into<async_nats::Error>) -> DlqError {
    DlqError::Nats(e.into())
}

/// One dead letter, as operators see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// `rc:<seq>` or `crm:<seq>`.
    pub id: String,
    /// Which dead-letter stream.
    pub stream: Side,
    /// Sequence in that stream.
    pub seq: u64,
    /// The dead-letter subject (prefixed).
    pub subject: String,
    /// The consumer name or webhook id that gave up.
    pub consumer: String,
    /// The webhook id, for a webhook's dead letter.
    pub webhook: Option<String>,
    /// The event id, when the body is an event.
    pub event_id: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// Deliveries made.
    pub attempts: Option<i64>,
    /// The receiver's last HTTP status (webhooks).
    pub last_status: Option<u16>,
    /// When the first delivery failed.
    pub first_failed_at: Option<String>,
    /// When the writer gave up.
    pub failed_at: Option<String>,
    /// Where the message was read from.
    pub source_stream: Option<String>,
    /// Its subject there.
    pub source_subject: Option<String>,
    /// Its sequence there.
    pub source_sequence: Option<u64>,
    /// Its `Nats-Msg-Id`.
    pub original_msg_id: Option<String>,
    /// When the dead letter was stored.
    pub stored_at: DateTime<Utc>,
    /// The body: JSON when it parses, else a string (`show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// One stream, or both.
    pub side: Option<Side>,
    /// One consumer or webhook id.
    pub consumer: Option<String>,
    /// Only entries stored at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (per call; 0 = no limit).
    pub limit: usize,
}

/// Checks a consumer name or webhook id before it goes into a subject.
pub fn check_consumer(name: &str) -> Result<(), DlqError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DlqError::InvalidConsumer(name.to_string()))
    }
}

/// Parses `N`, `rc:N` or `crm:N`.
pub fn parse_ref(s: &str) -> Result<(Option<Side>, u64), DlqError> {
    let bad = || DlqError::InvalidEntry(s.to_string());
    let (side, seq) = match s.split_once(':') {
        Some((side, seq)) => (Some(Side::parse(side).ok_or_else(bad)?), seq),
        None => (None, s),
    };
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    if seq == 0 {
        return Err(bad());
    }
    Ok((side, seq))
}

/// Entries matching `filter`, oldest first, RC_DLQ before CRM_DLQ.
pub async fn list(
    js: &jetstream::Context,
    names: &Names,
    filter: &Filter,
) -> Result<Vec<Entry>, DlqError> {
    if let Some(c) = &filter.consumer {
        check_consumer(c)?;
    }
    let limit = if filter.limit == 0 {
        usize::MAX
    } else {
        filter.limit
    };
    let mut out = Vec::new();
    for side in Side::ALL {
        if filter.side.is_some_and(|s| s != side) || out.len() >= limit {
            continue;
        }
        let subject = match &filter.consumer {
            Some(c) => names.subject(&side.subject(c)),
            None => names.subject(&format!("{}.dlq.>", side.as_str())),
        };
        read(js, names, side, subject, filter.since, limit, &mut out).await?;
    }
    Ok(out)
}

async fn read(
    js: &jetstream::Context,
    names: &Names,
    side: Side,
    subject: String,
    since: Option<DateTime<Utc>>,
    limit: usize,
    out: &mut Vec<Entry>,
) -> Result<(), DlqError> {
    let Ok(stream) = js.get_stream(names.stream(side.stream())).await else {
        // Not declared yet: nothing was ever dead-lettered there.
        return Ok(());
    };
    let deliver_policy = match since {
        Some(t) => DeliverPolicy::ByStartTime {
            start_time: async_nats::datetime::from_nanos(
                t.timestamp_nanos_opt().unwrap_or_default() as i128,
            )
            .map_err(nats_err)?,
        },
        None => DeliverPolicy::All,
    };
    let mut consumer = stream
        .create_consumer(pull::Config {
            deliver_policy,
            ack_policy: AckPolicy::None,
            filter_subject: subject,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(nats_err)?;
    let info = consumer.info().await.map_err(nats_err)?.clone();
    let want = usize::try_from(info.num_pending)
        .unwrap_or(usize::MAX)
        .min(limit.saturating_sub(out.len()));
    let mut got = 0;
    while got < want {
        let before = got;
        let mut batch = consumer
            .fetch()
            .max_messages((want - got).min(256))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(nats_err)?;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(nats_err)?;
            let meta = msg.info().map_err(nats_err)?;
            let (seq, at) = (
                meta.stream_sequence,
                at_nanos(meta.published.unix_timestamp_nanos()),
            );
            let m = &msg.message;
            out.push(entry(side, seq, &m.subject, m.headers.as_ref(), at, None));
            got += 1;
        }
        if got == before {
            break;
        }
    }
    let _ = stream.delete_consumer(&info.name).await;
    Ok(())
}

/// One entry with its body.
pub async fn show(
    js: &jetstream::Context,
    names: &Names,
    side: Option<Side>,
    seq: u64,
) -> Result<Entry, DlqError> {
    let (side, msg) = fetch(js, names, side, seq).await?;
    let payload = serde_json::from_slice(&msg.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&msg.payload).into_owned())
    });
    Ok(entry(
        side,
        seq,
        &msg.subject,
        Some(&msg.headers),
        at_nanos(msg.time.unix_timestamp_nanos()),
        Some(payload),
    ))
}

/// The stored message behind an entry reference.
pub(crate) async fn fetch(
    js: &jetstream::Context,
    names: &Names,
    side: Option<Side>,
    seq: u64,
) -> Result<(Side, jetstream::message::StreamMessage), DlqError> {
    let mut found = None;
    for s in Side::ALL {
        if side.is_some_and(|want| want != s) {
            continue;
        }
        let Ok(stream) = js.get_stream(names.stream(s.stream())).await else {
            continue;
        };
        if let Ok(msg) = stream.get_raw_message(seq).await {
            if found.is_some() {
                return Err(DlqError::Ambiguous(seq));
            }
            found = Some((s, msg));
        }
    }
    found.ok_or_else(|| {
        DlqError::NotFound(match side {
            Some(s) => format!("{}:{seq}", s.as_str()),
            None => seq.to_string(),
        })
    })
}

/// A NATS timestamp (nanoseconds since the epoch) as a chrono time.
fn at_nanos(nanos: i128) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

fn entry(
    side: Side,
    seq: u64,
    subject: &str,
    headers: Option<&HeaderMap>,
    stored_at: DateTime<Utc>,
    payload: Option<serde_json::Value>,
) -> Entry {
    let h = |n: &str| {
        headers
            .and_then(|h| h.get(n))
            .map(|v| v.as_str().to_string())
    };
    // Entries written before the shared format named the webhook and the
    // error differently; they still list and redrive.
    let consumer = h(dlq::CONSUMER)
        .or_else(|| h("Hookline-Webhook-Id"))
        .unwrap_or_else(|| subject.rsplit('.').next().unwrap_or_default().to_string());
    Entry {
        id: format!("{}:{seq}", side.as_str()),
        stream: side,
        seq,
        subject: subject.to_string(),
        webhook: (side == Side::Rc && consumer.starts_with("wh_")).then(|| consumer.clone()),
        consumer,
        event_id: h(dlq::EVENT_ID),
        error: h(dlq::ERROR).or_else(|| h("Hookline-Last-Error")),
        attempts: h(dlq::ATTEMPTS)
            .or_else(|| h("Hookline-Deliveries"))
            .and_then(|v| v.parse().ok()),
        last_status: h(dlq::LAST_STATUS).and_then(|v| v.parse().ok()),
        first_failed_at: h(dlq::FIRST_FAILED_AT),
        failed_at: h(dlq::FAILED_AT),
        source_stream: h(dlq::SOURCE_STREAM),
        source_subject: h(dlq::SOURCE_SUBJECT).or_else(|| h("Hookline-Original-Subject")),
        source_sequence: h(dlq::SOURCE_SEQUENCE)
            .or_else(|| h("Hookline-Stream-Sequence"))
            .and_then(|v| v.parse().ok()),
        original_msg_id: h(dlq::ORIGINAL_MSG_ID),
        stored_at,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_references_parse() {
        assert_eq!(parse_ref("12").unwrap(), (None, 12));
        assert_eq!(parse_ref("rc:3").unwrap(), (Some(Side::Rc), 3));
        assert_eq!(parse_ref("crm:7").unwrap(), (Some(Side::Crm), 7));
        for bad in ["", "0", "x:1", "rc:", "rc:-1", "1.5"] {
            assert!(parse_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn consumer_names_must_be_subject_tokens() {
        assert!(check_consumer("wh_01ABC").is_ok());
        assert!(check_consumer("event-store").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b"] {
            assert!(check_consumer(bad).is_err(), "{bad}");
        }
    }
}
