//! Fills dedupe: N raw page views, each with its own dedupe key, published
//! straight to RC_RAW; then waits until the `dedupe` consumer has judged
//! them all. Used to measure dedupe's memory with 1,000,000 keys inside the
//! window, and its throughput on the way.

use hookline_core::event::{ContentType, PageView, RawEvent, Visitor};
use hookline_core::nats::Nats;
use hookline_core::publish::{Outgoing, publish_batch};
use hookline_core::{Config, Event, EventData, EventType, lag, names};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a fill measured.
#[derive(Debug, Serialize)]
pub struct FillResult {
    /// `dedupe`.
    pub target: String,
    /// Raw events published (one key each).
    pub events: u64,
    /// Seconds spent publishing them.
    pub publish_seconds: f64,
    /// Seconds from the first publish until dedupe had nothing pending.
    pub seconds: f64,
    /// Raw events judged per second over that time.
    pub judged_per_sec: f64,
    /// Whether dedupe caught up before the time-out.
    pub drained: bool,
    /// Ids of the first, middle and last event published, for timing
    /// `hookline trace` against the filled streams.
    pub sample_ids: Vec<String>,
}

/// Publishes `count` keyed raw page views and waits for dedupe.
pub async fn run(config: &Config, count: u64, timeout: Duration) -> anyhow::Result<FillResult> {
    let nats = Nats::connect_and_declare(config).await?;
    let subject = nats.names.raw_subject(EventType::PageView);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 8..];
    let started = Instant::now();
    let mut n = 0u64;
    let mut sample_ids = Vec::new();
    let samples = [0, count / 2, count.saturating_sub(1)];
    while n < count {
        let end = (n + 1024).min(count);
        let msgs: Vec<Outgoing> = (n..end)
            .map(|i| {
                let raw = RawEvent {
                    event: Event::new(EventData::PageView(PageView {
                        content_type: ContentType::Resource,
                        content_id: format!("r-{run}-{i}"),
                        slug: format!("bench-resource-{i}"),
                        title: Some("Benchmark resource".into()),
                        community: Some("bench".into()),
                        contact_id: Some(format!("c-{run}-{i}")),
                        url: None,
                        content_checksum: None,
                        utm_campaign: None,
                        utm_source: None,
                        utm_medium: None,
                    })),
                    visitor: Visitor::default(),
                };
                if samples.contains(&i) && !sample_ids.contains(&raw.event.id.to_string()) {
                    sample_ids.push(raw.event.id.to_string());
                }
                let body = serde_json::to_vec(&raw).unwrap_or_default();
                Outgoing::new(subject.clone(), raw.event.id.as_str(), body.into())
            })
            .collect();
        for r in publish_batch(&nats.js, &msgs).await {
            r?;
        }
        n = end;
        if n.is_multiple_of(100_000) {
            eprintln!(
                "fill: published {n} in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let stream = nats.names.stream(names::RC_RAW);
    let deadline = started + timeout;
    let mut drained = false;
    while Instant::now() < deadline {
        let streams = lag::collect(&nats).await?;
        let busy = streams
            .iter()
            .filter(|s| s.stream == stream)
            .flat_map(|s| &s.consumers)
            .find(|c| c.consumer == "dedupe")
            .map(|c| c.pending + c.ack_pending);
        if busy == Some(0) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(FillResult {
        target: "dedupe".into(),
        events: count,
        publish_seconds: crate::report::round2(publish_seconds),
        seconds: crate::report::round2(seconds),
        judged_per_sec: crate::report::round2(count as f64 / seconds),
        drained,
        sample_ids,
    })
}
