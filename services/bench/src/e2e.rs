//! End to end: page views posted to the edge at a fixed offered rate, each
//! followed until every CRM consumer has committed it.
//!
//! The load generator hands every accepted event id (with the moment its 202
//! arrived) to a watcher, which polls `processed_events` in the CRM database.
//! Event ids are time-ordered (UUIDv7), so one index range scan from the
//! oldest outstanding id finds every event committed since — a query whose
//! cost follows the events in flight, not the run's total. Two latencies are
//! reported per event, bracketing the truth:
//!
//! - `observed`: 202 → the start of the first poll that saw the event's rows
//!   of all consumers. A commit is visible to a query only if it happened
//!   before the query's snapshot, so this is an upper bound, too high by at
//!   most one poll interval (plus the poll's own time: see `poll_ms_max`);
//! - `processed_at`: 202 → the latest `processed_events.processed_at` of the
//!   event. That column is `now()`, the *start* of the consumer's batch
//!   transaction, so this is a lower bound (it misses the batch's own time).

use crate::load::{self, Accepted};
use crate::report::{self, Latency, LoadResult};
use chrono::{DateTime, Utc};
use hookline_core::lag;
use hookline_core::nats::Nats;
use hookline_core::{Config, names};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What an end-to-end run measured.
#[derive(Debug, Serialize)]
pub struct E2eResult {
    /// The load at the edge.
    pub load: LoadResult,
    /// Events accepted by the edge (warm-up included).
    pub tracked: u64,
    /// Of those, committed by every consumer before the drain time-out.
    pub completed: u64,
    /// 202 → seen committed by all consumers (upper bound; measured events).
    pub observed: Latency,
    /// 202 → latest `processed_at` (lower bound; measured events).
    pub processed_at: Latency,
    /// Seconds from the last request to the last event committed.
    pub drain_seconds: f64,
    /// Completed events per second, first 202 to last commit.
    pub completed_per_sec: f64,
    /// Seconds after the last commit until every consumer of RC_RAW,
    /// RC_EVENTS and CRM_EVENTS had nothing pending or unacked (None: not
    /// within the time-out).
    pub lag_zero_after_s: Option<f64>,
    /// Poll interval of the watcher, ms.
    pub poll_ms: u64,
    /// Polls made, and their mean and longest time (ms): the resolution of
    /// `observed`.
    pub polls: u64,
    /// Mean time of a poll, ms.
    pub poll_ms_mean: f64,
    /// Longest poll, ms.
    pub poll_ms_max: f64,
}

/// Settings of the watcher.
pub struct Watch {
    /// The CRM database.
    pub pool: PgPool,
    /// Consumers that must all have committed an event.
    pub consumers: Vec<String>,
    /// Poll interval.
    pub poll: Duration,
    /// How long to wait for stragglers after the load ends.
    pub drain_timeout: Duration,
}

struct Tracker {
    /// Outstanding events by id (ids sort by time).
    pending: BTreeMap<String, Accepted>,
    observed: hdrhistogram::Histogram<u64>,
    processed_at: hdrhistogram::Histogram<u64>,
    completed: u64,
    first_accept: Option<Instant>,
    last_commit: Option<Instant>,
    polls: u64,
    poll_total: Duration,
    poll_max: Duration,
}

/// Runs the load in `spec` while watching the CRM database.
pub async fn run(config: &Config, mut spec: load::Spec, watch: Watch) -> anyhow::Result<E2eResult> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    spec.accepted = Some(tx);
    let mut load_task = tokio::spawn(load::run(spec));
    let mut t = Tracker {
        pending: BTreeMap::new(),
        observed: report::histogram(),
        processed_at: report::histogram(),
        completed: 0,
        first_accept: None,
        last_commit: None,
        polls: 0,
        poll_total: Duration::ZERO,
        poll_max: Duration::ZERO,
    };
    let mut tracked = 0u64;
    let mut load_done: Option<(LoadResult, Instant)> = None;
    let mut tick = tokio::time::interval(watch.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closed = false;
    loop {
        tick.tick().await;
        while let Ok(a) = rx.try_recv() {
            tracked += 1;
            t.first_accept.get_or_insert(a.at);
            t.pending.insert(a.id.clone(), a);
        }
        if load_done.is_none() && load_task.is_finished() {
            load_done = Some(((&mut load_task).await?, Instant::now()));
            continue; // pick up the last ids first
        }
        if load_done.is_some() && !closed {
            rx.close();
            closed = true;
            continue;
        }
        if !t.pending.is_empty() {
            poll(&watch, &mut t).await?;
        }
        if let Some((_, ended)) = &load_done {
            if t.pending.is_empty() && closed && rx.is_empty() {
                break;
            }
            if ended.elapsed() > watch.drain_timeout {
                eprintln!(
                    "e2e: {} events still not committed after the drain time-out",
                    t.pending.len()
                );
                break;
            }
        }
    }
    let Some((load, ended)) = load_done else {
        anyhow::bail!("load never finished");
    };
    let last = t.last_commit.unwrap_or(ended);
    let lag_zero_after_s = lag_zero(config, Duration::from_secs(20))
        .await?
        .map(|at| report::round2(at.saturating_duration_since(last).as_secs_f64()));
    let span = t
        .first_accept
        .map_or(0.0, |f| last.saturating_duration_since(f).as_secs_f64());
    Ok(E2eResult {
        load,
        tracked,
        completed: t.completed,
        observed: Latency::of(&t.observed),
        processed_at: Latency::of(&t.processed_at),
        drain_seconds: report::round2(last.saturating_duration_since(ended).as_secs_f64()),
        completed_per_sec: report::round2(t.completed as f64 / span.max(1e-9)),
        lag_zero_after_s,
        poll_ms: watch.poll.as_millis() as u64,
        polls: t.polls,
        poll_ms_mean: report::round2(t.poll_total.as_secs_f64() * 1000.0 / t.polls.max(1) as f64),
        poll_ms_max: report::round2(t.poll_max.as_secs_f64() * 1000.0),
    })
}

/// Finds the events committed by every consumer since the oldest
/// outstanding one, and settles those we track.
async fn poll(watch: &Watch, t: &mut Tracker) -> anyhow::Result<()> {
    let Some(oldest) = t.pending.keys().next().cloned() else {
        return Ok(());
    };
    let started = Instant::now();
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT event_id, max(processed_at) FROM processed_events \
         WHERE consumer = ANY($1) AND event_id >= $2 \
         GROUP BY event_id HAVING count(*) >= $3",
    )
    .bind(&watch.consumers)
    .bind(&oldest)
    .bind(watch.consumers.len() as i64)
    .fetch_all(&watch.pool)
    .await?;
    let took = started.elapsed();
    t.polls += 1;
    t.poll_total += took;
    t.poll_max = t.poll_max.max(took);
    for (id, at) in rows {
        let Some(a) = t.pending.remove(&id) else {
            continue; // settled by an earlier poll, or not ours
        };
        t.completed += 1;
        t.last_commit = Some(t.last_commit.map_or(started, |l| l.max(started)));
        if a.measured {
            report::record(&mut t.observed, started.saturating_duration_since(a.at));
            let db = (at - a.wall).to_std().unwrap_or_default();
            report::record(&mut t.processed_at, db);
        }
    }
    Ok(())
}

/// Waits until no consumer of the pipeline has anything pending or unacked;
/// the moment it saw that, or `None` after `timeout`.
pub async fn lag_zero(config: &Config, timeout: Duration) -> anyhow::Result<Option<Instant>> {
    let nats = Nats::connect(&config.nats).await?;
    let watched =
        [names::RC_RAW, names::RC_EVENTS, names::CRM_EVENTS].map(|s| nats.names.stream(s));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let now = Instant::now();
        let streams = lag::collect(&nats).await?;
        let busy = streams
            .iter()
            .filter(|s| watched.contains(&s.stream))
            .flat_map(|s| &s.consumers)
            .any(|c| c.pending > 0 || c.ack_pending > 0);
        if !busy {
            return Ok(Some(now));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}
