//! Reading the RC's record of unique events: `RC_EVENTS`, which holds
//! exactly the events dedupe let through (bots and duplicates never reach
//! it), read by time with an ephemeral ordered consumer, headers only.
//!
//! The read starts [`SKEW`] before the range (the edge's clock, which mints
//! ids, against the NATS server's, which stamps messages) and stops at the
//! first message stored more than [`LATE`] after its end, or at the end of
//! the stream. An event that took longer than [`LATE`] from the edge to
//! `RC_EVENTS` (dedupe stopped for over an hour) is not counted, and
//! reconcile reports it as one the RC does not know.

use async_nats::jetstream::stream::{Info, Stream};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use hookline_core::Names;
use hookline_core::health_sync::{Buckets, TYPES};
use hookline_core::names::RC_EVENTS;
use hookline_core::nats::by_time::headers_from;
use std::time::Duration;

/// Clock difference allowed between the edge and the NATS server.
pub const SKEW: TimeDelta = TimeDelta::minutes(1);
/// Longest an event may take from its minting to `RC_EVENTS` and still be
/// counted in its hour.
pub const LATE: TimeDelta = TimeDelta::hours(1);
/// How long to wait for the next message the server says is pending.
const STALL: Duration = Duration::from_secs(10);

/// Why the stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// NATS did not answer or refused.
    #[error("reading RC_EVENTS: {0}")]
    Nats(#[source] async_nats::Error),
    /// The ordered consumer ended before the pending messages arrived.
    #[error("reading RC_EVENTS: the consumer ended early")]
    Ended,
    /// Messages were pending but none came within [`STALL`].
    #[error("reading RC_EVENTS: no message within 10 s although some are pending")]
    Stalled,
    /// The range starts before the oldest message the stream may still
    /// hold: its answer would be incomplete.
    #[error("the range starts before RC_EVENTS' retention")]
    Retention {
        /// The oldest start that can be answered.
        oldest: DateTime<Utc>,
    },
}

fn nats(e: impl Into<async_nats::Error>) -> ReadError {
    ReadError::Nats(e.into())
}

fn nanos(t: DateTime<Utc>) -> i128 {
    t.timestamp_nanos_opt().unwrap_or_default() as i128
}

/// The unique events of `[from, to)`, by hour and type.
pub async fn buckets(
    js: &async_nats::jetstream::Context,
    names: &Names,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Buckets, ReadError> {
    let mut out = Buckets::new(from, to);
    let (stream, info) = stream(js, names).await?;
    check_retention(&info, from)?;
    let start = from - SKEW;
    if info.state.messages == 0 || info.state.last_timestamp.unix_timestamp_nanos() < nanos(start) {
        return Ok(out);
    }
    let filter = names.subject("rc.events.>");
    let mut messages = headers_from(&stream, filter, nanos(start))
        .await
        .map_err(nats)?;
    let until = nanos(to + LATE);
    let subjects: Vec<_> = TYPES
        .iter()
        .map(|t| (names.rc_event_subject(*t), *t))
        .collect();
    loop {
        let msg = match tokio::time::timeout(STALL, messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(nats(e)),
            Ok(None) => return Err(ReadError::Ended),
            Err(_) => return Err(ReadError::Stalled),
        };
        let meta = msg.info().map_err(nats)?;
        if meta.published.unix_timestamp_nanos() > until {
            break;
        }
        let kind = subjects.iter().find(|(s, _)| *s == msg.subject.as_str());
        let id = msg.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        if let (Some((_, kind)), Some(id)) = (kind, id) {
            out.add(*kind, id.as_str());
        }
        if meta.pending == 0 {
            break;
        }
    }
    Ok(out)
}

/// `Err(Retention)` when `from` is before what `RC_EVENTS` still holds.
pub async fn retention(
    js: &async_nats::jetstream::Context,
    names: &Names,
    from: DateTime<Utc>,
) -> Result<(), ReadError> {
    check_retention(&stream(js, names).await?.1, from)
}

async fn stream(
    js: &async_nats::jetstream::Context,
    names: &Names,
) -> Result<(Stream, Info), ReadError> {
    let mut stream = js.get_stream(names.stream(RC_EVENTS)).await.map_err(nats)?;
    let info = stream.info().await.map_err(nats)?.clone();
    Ok((stream, info))
}

/// Refuses a range that starts where the stream may already have dropped
/// messages: before `now - max_age`, or before the oldest message still
/// held once the stream has dropped any.
fn check_retention(info: &Info, from: DateTime<Utc>) -> Result<(), ReadError> {
    let mut oldest: Option<DateTime<Utc>> = None;
    if !info.config.max_age.is_zero()
        && let Ok(age) = TimeDelta::from_std(info.config.max_age)
    {
        oldest = Some(Utc::now() - age + SKEW);
    }
    if info.state.first_sequence > 1 {
        let first = DateTime::from_timestamp_nanos(
            info.state.first_timestamp.unix_timestamp_nanos() as i64,
        ) + SKEW;
        oldest = Some(oldest.map_or(first, |o| o.max(first)));
    }
    match oldest {
        Some(oldest) if from < oldest => Err(ReadError::Retention { oldest }),
        _ => Ok(()),
    }
}
