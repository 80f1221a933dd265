//! Stream and consumer lag: the figures `hookline lag` prints and the
//! services export as Prometheus gauges.
//!
//! Names follow what operators already graph (prometheus-nats-exporter's
//! `num_pending`, `num_ack_pending`, `num_redelivered`), under `hookline_`.

use crate::config::Config;
use crate::names;
use crate::nats::Nats;
use crate::shutdown::Shutdown;
use futures::TryStreamExt;
use serde::Serialize;
use std::time::Duration;

/// One consumer's position on one stream.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConsumerLag {
    /// Stream name (with prefix).
    pub stream: String,
    /// Durable consumer name.
    pub consumer: String,
    /// Messages not yet delivered to the consumer.
    pub pending: u64,
    /// Delivered but not acknowledged.
    pub ack_pending: u64,
    /// Delivered more than once and still unacknowledged.
    pub redelivered: u64,
    /// Pull requests waiting (0 with work pending: nobody is consuming).
    pub waiting: u64,
    /// Age of the oldest message not yet acknowledged, in seconds.
    pub oldest_unacked_seconds: f64,
    /// `idle` (nothing to do), `active`, or `stalled` (work and no puller).
    pub state: &'static str,
}

/// One stream's size.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StreamLag {
    /// Stream name (with prefix).
    pub stream: String,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Its consumers.
    pub consumers: Vec<ConsumerLag>,
}

/// Why lag could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading lag of {stream}: {message}")]
pub struct LagError {
    stream: String,
    message: String,
}

/// The streams of this stack, in pipeline order.
pub const STREAMS: [&str; 5] = [
    names::RC_RAW,
    names::RC_EVENTS,
    names::RC_DLQ,
    names::CRM_EVENTS,
    names::CRM_DLQ,
];

/// Reads every stream of the stack and each of its consumers.
pub async fn collect(nats: &Nats) -> Result<Vec<StreamLag>, LagError> {
    let mut out = Vec::new();
    for base in STREAMS {
        let name = nats.names.stream(base);
        let err = |e: &dyn std::fmt::Display| LagError {
            stream: name.clone(),
            message: e.to_string(),
        };
        let mut stream = match nats.js.get_stream(&name).await {
            Ok(s) => s,
            Err(_) => continue, // not declared yet: nothing to report
        };
        let info = stream.info().await.map_err(|e| err(&e))?.clone();
        let now = chrono::Utc::now().timestamp_millis();
        let mut consumers = Vec::new();
        let mut list = stream.consumers();
        while let Some(c) = list.try_next().await.map_err(|e| err(&e))? {
            let unacked = c.num_pending > 0 || c.num_ack_pending > 0;
            let oldest = if unacked {
                match stream
                    .get_raw_message(c.ack_floor.stream_sequence + 1)
                    .await
                {
                    Ok(m) => {
                        let ms = (m.time.unix_timestamp_nanos() / 1_000_000) as i64;
                        (now - ms).max(0) as f64 / 1000.0
                    }
                    Err(_) => 0.0, // purged or expired in between
                }
            } else {
                0.0
            };
            let state = if !unacked {
                "idle"
            } else if c.num_waiting == 0 && c.num_ack_pending == 0 {
                "stalled"
            } else {
                "active"
            };
            consumers.push(ConsumerLag {
                stream: name.clone(),
                consumer: c.name.clone(),
                pending: c.num_pending,
                ack_pending: c.num_ack_pending as u64,
                redelivered: c.num_redelivered as u64,
                waiting: c.num_waiting as u64,
                oldest_unacked_seconds: oldest,
                state,
            });
        }
        consumers.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        out.push(StreamLag {
            stream: name.clone(),
            messages: info.state.messages,
            bytes: info.state.bytes,
            consumers,
        });
    }
    Ok(out)
}

/// Registers the `# HELP` text of the lag gauges (the recorder does it
/// once, when installed, so it holds whichever process exports them).
pub fn describe_metrics() {
    use metrics::{Unit, describe_gauge};
    describe_gauge!("hookline_stream_messages", "Messages stored in a stream");
    describe_gauge!(
        "hookline_stream_bytes",
        Unit::Bytes,
        "Bytes stored in a stream"
    );
    describe_gauge!(
        "hookline_consumer_pending",
        "Messages a durable consumer has not been delivered yet"
    );
    describe_gauge!(
        "hookline_consumer_ack_pending",
        "Messages delivered to a consumer and not yet acknowledged"
    );
    describe_gauge!(
        "hookline_consumer_redelivered",
        "Messages delivered to a consumer more than once and still unacknowledged"
    );
    describe_gauge!(
        "hookline_consumer_waiting",
        "Pull requests a consumer has waiting (0 with work pending: nobody consumes)"
    );
    describe_gauge!(
        "hookline_consumer_oldest_unacked_seconds",
        Unit::Seconds,
        "Age of the oldest message a consumer has not acknowledged"
    );
}

/// Sets the Prometheus gauges from one reading.
pub fn record(streams: &[StreamLag]) {
    for s in streams {
        metrics::gauge!("hookline_stream_messages", "stream" => s.stream.clone())
            .set(s.messages as f64);
        metrics::gauge!("hookline_stream_bytes", "stream" => s.stream.clone()).set(s.bytes as f64);
        for c in &s.consumers {
            let labels = [
                ("stream", c.stream.clone()),
                ("consumer", c.consumer.clone()),
            ];
            metrics::gauge!("hookline_consumer_pending", &labels).set(c.pending as f64);
            metrics::gauge!("hookline_consumer_ack_pending", &labels).set(c.ack_pending as f64);
            metrics::gauge!("hookline_consumer_redelivered", &labels).set(c.redelivered as f64);
            metrics::gauge!("hookline_consumer_waiting", &labels).set(c.waiting as f64);
            metrics::gauge!("hookline_consumer_oldest_unacked_seconds", &labels)
                .set(c.oldest_unacked_seconds);
        }
    }
}

/// Refreshes the lag gauges every `every` until shutdown. They describe the
/// whole stack, so one process per stack runs this (`ops.export_lag`).
pub async fn export(config: Config, every: Duration, shutdown: Shutdown) {
    crate::telemetry::prometheus();
    let nats = match Nats::connect(&config.nats).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "lag metrics disabled: NATS unreachable");
            return;
        }
    };
    loop {
        match collect(&nats).await {
            Ok(streams) => record(&streams),
            Err(e) => tracing::debug!(error = %e, "lag reading failed"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
