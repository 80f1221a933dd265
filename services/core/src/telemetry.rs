//! Logs, spans and metrics, set up once per process.
//!
//! Logs go through `tracing` to stderr (text, or JSON for log shippers), so
//! stdout stays clean for commands like `hookline lag --json`; metrics through
//! the `metrics` facade into one Prometheus recorder that every service in the
//! process shares, so `hookline all` serves one `/metrics`. With
//! `telemetry.otlp_endpoint` set, a long-running service also exports its
//! hop spans (see [`crate::hop`]) over OTLP; `log.level` does not filter
//! them.

use crate::config::{LogConfig, LogFormat, TelemetryConfig};
use crate::otlp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, prelude::*};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the log subscriber. `RUST_LOG` overrides `log.level`. Calling it
/// twice is harmless (the second call does nothing).
pub fn init_logging(config: &LogConfig) {
    install(config, None);
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes it at exit.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<otlp::Provider>,
}

impl Telemetry {
    /// Exports the spans still buffered, waiting at most `within` (a
    /// collector that is down must not hold a stopping service).
    pub fn shutdown(self, within: Duration) {
        if let Some(p) = self.provider {
            p.shutdown(within);
        }
    }
}

/// Logs as [`init_logging`], plus span export as `service` when
/// `telemetry.otlp_endpoint` is set. Must run inside the Tokio runtime that
/// will carry the exports. An exporter that cannot be built is logged and
/// left out: spans are diagnostics, not a reason to stop the pipeline.
pub fn init(log: &LogConfig, telemetry: &TelemetryConfig, service: &str) -> Telemetry {
    let Some(endpoint) = telemetry.endpoint() else {
        init_logging(log);
        return Telemetry::default();
    };
    match otlp::tracer(endpoint, service) {
        Ok((provider, tracer)) => {
            let spans = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(
                    FilterFn::new(exported as fn(&tracing::Metadata<'_>) -> bool)
                        .with_max_level_hint(tracing::level_filters::LevelFilter::INFO),
                );
            install(log, Some(spans));
            tracing::info!(endpoint, service, "exporting spans over OTLP");
            Telemetry {
                provider: Some(provider),
            }
        }
        Err(e) => {
            init_logging(log);
            tracing::error!(error = %e, "span export is off");
            Telemetry::default()
        }
    }
}

/// What goes to the span exporter: hop spans, and warnings or worse
/// logged inside them (as span events).
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.name() == crate::hop::SPAN_NAME
    } else {
        *meta.level() <= tracing::Level::WARN
    }
}

/// The span-export layer, filtered to [`exported`].
type SpanLayer = Filtered<
    tracing_opentelemetry::OpenTelemetryLayer<Registry, opentelemetry_sdk::trace::Tracer>,
    FilterFn<fn(&tracing::Metadata<'_>) -> bool>,
    Registry,
>;

fn install(config: &LogConfig, spans: Option<SpanLayer>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(spans);
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
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
                Matcher::Full(crate::consumer_metrics::END_TO_END_SECONDS.into()),
                &[
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
                    28800.0,
                ],
            )
            .expect("static buckets are valid")
            .install_recorder()
            .expect("the metrics recorder is installed once, here");
        // HELP text of the metrics core records; each service describes
        // its own where it installs the recorder.
        crate::ops::describe_metrics();
        crate::lag::describe_metrics();
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
