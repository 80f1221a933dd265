//! Finding one event's message in a stream without scanning the stream.
//!
//! Every hop publishes with `Nats-Msg-Id` = the event id, and event ids are
//! UUIDv7, whose first 48 bits are the millisecond the edge minted them. So
//! the message is found by reading headers only, from a start time just
//! before the moment it can have been published, up to a bounded window
//! after it: the cost is the traffic of that window, never the stream.

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hookline_core::nats::by_time::headers_from;
use std::time::{Duration, Instant};

pub use hookline_core::mint::minted_at;

/// Why a stream could not be searched to the end of the window (the trace
/// reports the stream as a blind spot).
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// NATS refused or failed.
    #[error(transparent)]
    Nats(async_nats::Error),
    /// The time budget ran out before the window's end.
    #[error(
        "search stopped after {BUDGET:?} before the end of the window; \
         the event may be there: try again"
    )]
    OutOfTime,
}

fn nats(e: impl Into<async_nats::Error>) -> FindError {
    FindError::Nats(e.into())
}

/// Where a message was found.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its stream sequence.
    pub seq: u64,
    /// When the stream stored it.
    pub at: DateTime<Utc>,
    /// Its subject.
    pub subject: String,
    /// Its body.
    pub payload: bytes::Bytes,
}

/// How far one search may read.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Start reading at this stream time.
    pub from: DateTime<Utc>,
    /// Stop at messages stored after this.
    pub until: DateTime<Utc>,
}

/// Wall time one search may take, so a trace answers promptly even when a
/// window holds a burst of traffic.
const BUDGET: Duration = Duration::from_millis(1500);
/// How long to wait for the next message before deciding there is none.
const IDLE: Duration = Duration::from_millis(500);

fn nanos(t: DateTime<Utc>) -> i128 {
    t.timestamp_nanos_opt().unwrap_or_default() as i128
}

/// Looks in `stream` (subjects `filter`) for the message with `Nats-Msg-Id`
/// = `msg_id` inside `window`. `Ok(None)`: not there (the whole window was
/// read); an error when the stream could not be read, or not to the
/// window's end within the time budget.
pub async fn by_msg_id(
    js: &jetstream::Context,
    stream: &str,
    filter: String,
    window: Window,
    msg_id: &str,
) -> Result<Option<Found>, FindError> {
    let mut stream = js.get_stream(stream).await.map_err(nats)?;
    let state = stream.info().await.map_err(nats)?.state.clone();
    if state.messages == 0 || state.last_timestamp.unix_timestamp_nanos() < nanos(window.from) {
        return Ok(None);
    }
    let mut messages = headers_from(&stream, filter, nanos(window.from))
        .await
        .map_err(nats)?;
    let started = Instant::now();
    let until = nanos(window.until);
    let mut hit = None;
    let mut searched_to_the_end = false;
    while started.elapsed() < BUDGET {
        let msg = match tokio::time::timeout(IDLE, messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(nats(e)),
            Ok(None) | Err(_) => {
                searched_to_the_end = true;
                break;
            }
        };
        let Ok(info) = msg.info() else { break };
        if info.published.unix_timestamp_nanos() > until {
            searched_to_the_end = true;
            break;
        }
        let id = msg.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        if id.is_some_and(|v| v.as_str() == msg_id) {
            hit = Some(info.stream_sequence);
            break;
        }
        if info.pending == 0 {
            searched_to_the_end = true;
            break;
        }
    }
    let Some(seq) = hit else {
        // Out of time before the window's end: "not there" would be a guess,
        // so the caller reports this stream as a blind spot instead.
        return if searched_to_the_end {
            Ok(None)
        } else {
            Err(FindError::OutOfTime)
        };
    };
    let raw = stream.get_raw_message(seq).await.map_err(nats)?;
    Ok(Some(Found {
        seq,
        at: DateTime::from_timestamp_nanos(raw.time.unix_timestamp_nanos() as i64),
        subject: raw.subject.to_string(),
        payload: raw.payload,
    }))
}
