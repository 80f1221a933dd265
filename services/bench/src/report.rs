//! Latency histograms and the one-line JSON result every mode prints.
//!
//! Every mode ends with exactly one JSON object on stdout (the script parses
//! it) and a human-readable line on stderr.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid")
}

/// Records a duration (clamped into the histogram's range).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(us.max(1));
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// The summary of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// What an HTTP load run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadResult {
    /// What was measured (e.g. `edge`, `bare`).
    pub target: String,
    /// `open` (fixed offered rate) or `closed` (as fast as the connections go).
    pub mode: String,
    /// Offered requests per second (open loop only).
    pub offered_rate: Option<f64>,
    /// Keep-alive connections.
    pub connections: usize,
    /// Measured seconds (after warm-up).
    pub seconds: f64,
    /// Requests sent in the measured period.
    pub sent: u64,
    /// Answered with 2xx.
    pub ok: u64,
    /// Transport errors (connect, reset, time-out).
    pub errors: u64,
    /// Non-2xx answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// 2xx answers per second.
    pub accepted_per_sec: f64,
    /// Latency of 2xx answers, from the intended send time (open loop: so a
    /// stalled server is not hidden by a stalled client).
    pub latency: Latency,
}

/// Prints the result: JSON on stdout, a summary on stderr.
pub fn emit<T: Serialize>(label: &str, value: &T) {
    match serde_json::to_string(value) {
        Ok(json) => {
            eprintln!("{label}: {json}");
            println!("{json}");
        }
        Err(e) => eprintln!("{label}: result did not serialise: {e}"),
    }
}

/// Rounds to two decimals for readable JSON.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
