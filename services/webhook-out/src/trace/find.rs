//! Finding one event's message in a stream without scanning the stream.
//!
//! Every hop publishes with `Nats-Msg-Id` = the event id, and event ids are
//! UUIDv7, whose first 48 bits are the millisecond the edge minted them. A
//! stream is appended in near id order (the edge publishes an event right
//! after minting it, dedupe forwards `RC_RAW` in order, webhook-out delivers
//! a webhook's queue in order), so a search first finds where the ids near
//! the event's time sit and then reads headers only across that short
//! stretch:
//! - [`Search::IdOrder`] binary-searches the stream's sequences on the ids
//!   of the messages there (log₂ of the stream's length in direct gets,
//!   some 20 for a million messages), so a hop that lags minutes behind the
//!   mint time costs no more;
//! - [`Search::StoredTime`] lets the server start at a stored time, for a
//!   hop whose time is known but whose order is not (a retried delivery
//!   reaches `CRM_EVENTS` out of id order, at the time of its 2xx).
//!
//! Either way the cost is the traffic of a short window, never the stream.

use async_nats::jetstream::{self, consumer::DeliverPolicy};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hookline_core::nats::by_time::headers;
use std::time::{Duration, Instant};

pub use hookline_core::mint::minted_at;

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

/// A span of time: of stored times or of ids' mint times.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The earliest time looked at.
    pub from: DateTime<Utc>,
    /// Reading stops past this time.
    pub until: DateTime<Utc>,
}

/// How to find where to start reading, and when to stop.
#[derive(Clone, Copy, Debug)]
pub enum Search {
    /// Messages whose ids were minted inside the window.
    IdOrder(Window),
    /// Messages the stream stored inside the window.
    StoredTime(Window),
}

/// Why a stream could not be searched to the end of the window.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// The stream's state could not be read.
    #[error("cannot read the stream")]
    Stream(#[from] jetstream::context::GetStreamError),
    /// Its info could not be read.
    #[error("cannot read the stream's state")]
    Info(#[from] jetstream::stream::InfoError),
    /// A read of one message failed.
    #[error("cannot read a message")]
    Get(#[from] jetstream::stream::RawMessageError),
    /// The reading consumer could not be made.
    #[error("cannot read the stream's headers")]
    Read(#[source] async_nats::Error),
    /// A message failed on the way.
    #[error("cannot read the stream's headers")]
    Message(#[from] jetstream::consumer::pull::OrderedError),
    /// A start time out of range.
    #[error("no stream time for {0}")]
    Time(DateTime<Utc>),
    /// Out of time before the window's end: "not there" would be a guess.
    #[error(
        "search stopped after {BUDGET:?} before the end of the window; the event may be there: try again"
    )]
    OutOfTime,
}

/// Wall time one search may take, so a trace answers promptly even when a
/// window holds a burst of traffic.
const BUDGET: Duration = Duration::from_millis(1500);
/// How long to wait for the next message before deciding there is none.
const IDLE: Duration = Duration::from_millis(500);

/// Looks in `stream` (subjects `filter`) for the message with `Nats-Msg-Id`
/// = `msg_id`. `Ok(None)`: not there (the whole window was read).
pub async fn locate(
    js: &jetstream::Context,
    stream: &str,
    filter: String,
    search: Search,
    msg_id: &str,
) -> Result<Option<Found>, FindError> {
    let mut stream = js.get_stream(stream).await?;
    let state = stream.info().await?.state.clone();
    if state.messages == 0 {
        return Ok(None);
    }
    let (deliver_policy, until) = match search {
        Search::StoredTime(w) => {
            if state.last_timestamp.unix_timestamp_nanos() < nanos(w.from) {
                return Ok(None);
            }
            let start_time = async_nats::datetime::from_nanos(nanos(w.from))
                .map_err(|_| FindError::Time(w.from))?;
            (
                DeliverPolicy::ByStartTime { start_time },
                Stop::Stored(w.until),
            )
        }
        Search::IdOrder(w) => {
            let (first, last) = (state.first_sequence, state.last_sequence);
            let Some(start) = first_minted_from(&stream, &filter, first, last, w.from).await?
            else {
                return Ok(None);
            };
            let policy = DeliverPolicy::ByStartSequence {
                start_sequence: start,
            };
            (policy, Stop::Minted(w.until))
        }
    };
    let Some(seq) = scan(&stream, filter, deliver_policy, until, msg_id).await? else {
        return Ok(None);
    };
    let raw = stream.get_raw_message(seq).await?;
    Ok(Some(Found {
        seq,
        at: DateTime::from_timestamp_nanos(raw.time.unix_timestamp_nanos() as i64),
        subject: raw.subject.to_string(),
        payload: raw.payload,
    }))
}

/// Where reading stops.
#[derive(Clone, Copy)]
enum Stop {
    Stored(DateTime<Utc>),
    Minted(DateTime<Utc>),
}

fn nanos(t: DateTime<Utc>) -> i128 {
    t.timestamp_nanos_opt().unwrap_or_default() as i128
}

/// The mint time of a message's id (`None`: not a hookline event id).
fn minted_of(headers: Option<&async_nats::HeaderMap>) -> Option<DateTime<Utc>> {
    minted_at(headers?.get("Nats-Msg-Id")?.as_str())
}

/// The first sequence in `first..=last` from which every message of
/// `filter` was minted at or after `from`, by binary search over sequences;
/// `None` when no message there was. Deleted sequences and other subjects
/// in between do no harm (each probe reads the first message of `filter` at
/// or after a sequence). A message without a hookline id (a legacy sender's
/// derived id) says nothing about time: the probe reads on to the next one
/// that has one, and after a few without, starts earlier, which costs
/// reading but never skips the event.
async fn first_minted_from(
    stream: &jetstream::stream::Stream,
    filter: &str,
    first: u64,
    last: u64,
    from: DateTime<Utc>,
) -> Result<Option<u64>, FindError> {
    let (mut lo, mut hi) = (first, last.saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match probe(stream, filter, mid, hi).await? {
            Some((seq, minted)) if minted < from => lo = seq.saturating_add(1),
            _ => hi = mid,
        }
    }
    Ok((lo <= last).then_some(lo))
}

/// How many messages without a hookline id one probe reads past.
const FOREIGN_IDS_SKIPPED: usize = 16;

/// The first message of `filter` at or after `seq` (and before `end`) that
/// has a hookline id: its sequence and mint time. `None`: none there, or
/// too many without one.
async fn probe(
    stream: &jetstream::stream::Stream,
    filter: &str,
    mut seq: u64,
    end: u64,
) -> Result<Option<(u64, DateTime<Utc>)>, FindError> {
    for _ in 0..FOREIGN_IDS_SKIPPED {
        let got = stream
            .raw_message_builder()
            .sequence(seq)
            .next_by_subject(filter.to_string())
            .send()
            .await;
        let msg = match got {
            Ok(m) if m.sequence < end => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(minted) = minted_of(Some(&msg.headers)) {
            return Ok(Some((msg.sequence, minted)));
        }
        seq = msg.sequence.saturating_add(1);
    }
    Ok(None)
}

/// Reads headers from `policy` on until `msg_id`, the window's end, the
/// stream's end, or the time budget.
async fn scan(
    stream: &jetstream::stream::Stream,
    filter_subject: String,
    deliver_policy: DeliverPolicy,
    stop: Stop,
    msg_id: &str,
) -> Result<Option<u64>, FindError> {
    let mut messages = headers(stream, filter_subject, deliver_policy)
        .await
        .map_err(FindError::Read)?;
    let started = Instant::now();
    while started.elapsed() < BUDGET {
        let msg = match tokio::time::timeout(IDLE, messages.next()).await {
            Ok(Some(m)) => m?,
            Ok(None) | Err(_) => return Ok(None),
        };
        let Ok(info) = msg.info() else {
            return Ok(None);
        };
        let past = match stop {
            Stop::Stored(until) => info.published.unix_timestamp_nanos() > nanos(until),
            Stop::Minted(until) => minted_of(msg.headers.as_ref()).is_some_and(|t| t > until),
        };
        if past {
            return Ok(None);
        }
        let id = msg.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        if id.is_some_and(|v| v.as_str() == msg_id) {
            return Ok(Some(info.stream_sequence));
        }
        if info.pending == 0 {
            return Ok(None);
        }
    }
    Err(FindError::OutOfTime)
}
