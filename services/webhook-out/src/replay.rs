//! Replay: deliver again the events of a time window.
//!
//! The request scans the window once with an ephemeral, headers-only ordered
//! consumer (cheap: no payloads cross the wire) to count the events the
//! webhook would get and to pin the window to stream sequences. It then
//! records the replay in Postgres; the supervisors of every instance run it
//! through its own durable consumer with the normal retry, dead-letter and
//! logging path. So a replay survives restarts, is shared by instances,
//! never blocks live deliveries, and the answer's `replayed` is exactly the
//! number of events that will be delivered (receivers dedupe by id).

use crate::delivery::{Ctx, request};
use crate::store::{Webhook, replays};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hookline_core::names::RC_EVENTS;
use hookline_core::nats::by_time::headers_from;
use std::time::Duration;

/// Why a replay could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// NATS did not answer.
    #[error("NATS: {0}")]
    Nats(#[source] async_nats::Error),
    /// Postgres did not answer.
    #[error("Postgres: {0}")]
    Db(#[from] sqlx::Error),
}

fn nats_err(e: impl Into<async_nats::Error>) -> ReplayError {
    ReplayError::Nats(e.into())
}

/// Longest wait for the next message of the scan.
const SCAN_IDLE: Duration = Duration::from_secs(5);

fn nanos(t: &async_nats::datetime::DateTime) -> i128 {
    t.unix_timestamp_nanos()
}

/// The window `[since, until]` pinned to sequences, and what it holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First matching sequence.
    pub first: u64,
    /// Last matching sequence.
    pub last: u64,
    /// Matching events.
    pub count: u64,
}

/// Scans `RC_EVENTS` from `since` to `until` (or the stream's end now) and
/// counts events of `types`.
pub async fn scan(
    ctx: &Ctx,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    types: &[String],
) -> Result<Window, ReplayError> {
    let mut stream = ctx
        .nats
        .js
        .get_stream(ctx.nats.names.stream(RC_EVENTS))
        .await
        .map_err(nats_err)?;
    let state = stream.info().await.map_err(nats_err)?.state.clone();
    let since_ns = since.timestamp_nanos_opt().unwrap_or(i64::MIN) as i128;
    let until_ns = until.and_then(|u| u.timestamp_nanos_opt()).map(i128::from);
    let mut window = Window::default();
    if state.messages == 0 || nanos(&state.last_timestamp) < since_ns {
        return Ok(window);
    }
    let end_seq = state.last_sequence;
    let filter = ctx.nats.names.subject("rc.events.>");
    let mut messages = headers_from(&stream, filter, since_ns)
        .await
        .map_err(nats_err)?;
    loop {
        let msg = match tokio::time::timeout(SCAN_IDLE, messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(nats_err(e)),
            Ok(None) | Err(_) => break,
        };
        let Ok(info) = msg.info() else { break };
        let seq = info.stream_sequence;
        if seq > end_seq || until_ns.is_some_and(|u| nanos(&info.published) > u) {
            break;
        }
        let kind = request::subject_type(ctx.nats.names.unprefixed(&msg.subject));
        if kind.is_some_and(|k| types.iter().any(|t| t == k.as_str())) {
            if window.count == 0 {
                window.first = seq;
            }
            window.last = seq;
            window.count += 1;
        }
        if seq >= end_seq || info.pending == 0 {
            break;
        }
    }
    Ok(window)
}

/// Starts a replay for `webhook`; returns how many events it will deliver.
pub async fn start(
    ctx: &Ctx,
    webhook: &Webhook,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    types: &[String],
) -> Result<u64, ReplayError> {
    let window = scan(ctx, since, until, types).await?;
    if window.count == 0 {
        return Ok(0);
    }
    let replay = replays::insert(
        &ctx.pool,
        &webhook.id,
        window.first,
        window.last,
        types,
        window.count,
    )
    .await?;
    tracing::info!(webhook = %webhook.id, replay = replay.id, events = window.count, first_seq = window.first, last_seq = window.last, "replay started");
    ctx.apply_now().await;
    Ok(window.count)
}
