//! Logs and metrics, set up once per process.
//!
//! Logs go through `tracing` to stderr (text, or JSON for log shippers), so
//! stdout stays clean for commands like `hookline lag --json`; metrics through
//! the `metrics` facade into one Prometheus recorder that every service in the
//! process shares, so `hookline all` serves one `/metrics`.

use crate::config::{LogConfig, LogFormat};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the log subscriber. `RUST_LOG` overrides `log.level`. Calling it
/// twice is harmless (the second call does nothing).
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(fmt::layer().compact().with_writer(std::io::stderr))
            .try_init(),
    };
}

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .expect("static buckets are valid")
            // Edge→CRM latency spans webhook retries: minutes to hours.
            .set_buckets_for_metric(
                Matcher::Full(crate::runner::metrics::END_TO_END_SECONDS.into()),
                &[
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
                    28800.0,
                ],
            )
            .expect("static buckets are valid")
            .install_recorder()
            .expect("the metrics recorder is installed once, here");
        let upkeep = handle.clone();
        // Histograms are drained by upkeep; without it memory grows.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("thread spawns");
        handle
    })
}
