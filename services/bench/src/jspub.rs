//! The raw JetStream ceiling: async-nats publishes with `Nats-Msg-Id` to a
//! file-storage stream like RC_RAW, a fixed number of PubAcks in flight.
//! What the edge does per request minus HTTP, so edge / this is the share of
//! the NATS round trip's capacity the edge gets.

use crate::report::{self, Latency};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hookline_core::Config;
use hookline_core::nats::Nats;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a publish run measured.
#[derive(Debug, Serialize)]
pub struct JsResult {
    /// `jetstream`.
    pub target: String,
    /// PubAcks in flight.
    pub in_flight: usize,
    /// Message size in bytes.
    pub payload_bytes: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Acked publishes in the measured period.
    pub ok: u64,
    /// Failed publishes.
    pub errors: u64,
    /// Acked publishes per second.
    pub accepted_per_sec: f64,
    /// Send → PubAck.
    pub latency: Latency,
}

/// A raw page view as the edge publishes it (about the same size).
fn sample_payload() -> Bytes {
    Bytes::from_static(br#"{"id":"evt_0196a5f1c2b37d40a1b2c3d4e5f60718","occurred_at":"2026-11-23T10:00:00.000Z","type":"page_view","data":{"content_type":"resource","content_id":"r-bench-123456","slug":"bench-resource-123456","title":"Benchmark resource 123456","community":"bench","contact_id":"c-bench-4567","url":"https://rc.example.org/resources/bench-resource-123456?utm_campaign=bench","utm_campaign":"bench"},"visitor":{"bot":false}}"#)
}

/// Publishes for `warmup + duration` with `in_flight` PubAcks outstanding.
pub async fn run(
    config: &Config,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<JsResult> {
    let nats = Nats::connect(&config.nats).await?;
    let names = config.names();
    let stream_name = names.stream("BENCH_PUB");
    let subject = names.subject("bench.pub");
    nats.js
        .create_or_update_stream(stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            duplicate_window: config.nats.duplicate_window,
            ..Default::default()
        })
        .await?;
    let payload = sample_payload();
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut hist = report::histogram();
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut pending = FuturesUnordered::new();
    let mut settle = |res: Result<_, _>, sent: Instant, done: Instant, errors: &mut u64| {
        if sent >= measure_from {
            match res {
                Ok(_) => {
                    ok += 1;
                    report::record(&mut hist, done - sent);
                }
                Err(_) => *errors += 1,
            }
        }
    };
    while Instant::now() < end {
        while pending.len() < in_flight.max(1) {
            let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
            let msg = PublishMessage::build()
                .payload(payload.clone())
                .message_id(id.as_str());
            let sent = Instant::now();
            match nats.js.send_publish(subject.clone(), msg).await {
                Ok(fut) => pending.push(async move { (fut.await, sent) }),
                Err(_) => {
                    if sent >= measure_from {
                        errors += 1;
                    }
                }
            }
        }
        if let Some((res, sent)) = pending.next().await {
            settle(res, sent, Instant::now(), &mut errors);
        }
    }
    let mut last = Instant::now();
    while let Some((res, sent)) = pending.next().await {
        last = Instant::now();
        settle(res, sent, last, &mut errors);
    }
    let seconds = last.saturating_duration_since(measure_from).as_secs_f64();
    let _ = nats.js.delete_stream(&stream_name).await;
    Ok(JsResult {
        target: "jetstream".into(),
        in_flight,
        payload_bytes: payload.len(),
        seconds: report::round2(seconds),
        ok,
        errors,
        accepted_per_sec: report::round2(ok as f64 / seconds.max(1e-9)),
        latency: Latency::of(&hist),
    })
}
