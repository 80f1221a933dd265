//! Span export over OTLP/HTTP (protobuf), switched on by
//! `telemetry.otlp_endpoint`.
//!
//! Lifecycle: [`tracer`] builds one tracer provider per process (`hookline
//! all` included: its spans tell services apart by their `service`
//! attribute) with a batch processor, which exports from its own thread
//! every few seconds. [`Provider::shutdown`] flushes what is left when the
//! process stops, bounded so a collector that is down cannot hold a
//! stopping service past its grace.
//!
//! The HTTP client is the workspace's async reqwest. The batch thread has no
//! Tokio runtime of its own, so each export is spawned onto the process's
//! runtime and awaited from there.

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::Duration;

/// Longest one export may take (a collector that hangs costs no more).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// The OTLP/HTTP path of traces under a collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

/// Why span export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The HTTP client could not be built (no TLS roots, say).
    #[error("building the OTLP HTTP client")]
    Client(#[source] reqwest::Error),
    /// The exporter refused the endpoint.
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// A running tracer provider; [`Provider::shutdown`] flushes it.
#[derive(Debug)]
pub struct Provider(SdkTracerProvider);

impl Provider {
    /// Exports the spans still buffered, waiting at most `within`.
    pub fn shutdown(self, within: Duration) {
        if let Err(e) = self.0.shutdown_with_timeout(within) {
            tracing::warn!(error = %e, "not every span was exported before exit");
        }
    }
}

/// The traces URL under `endpoint`: `http://collector:4318` becomes
/// `http://collector:4318/v1/traces`; a URL already ending so is kept.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim().trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_string()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

/// A tracer provider exporting to `endpoint` as `service`, and its tracer.
/// Must run inside the Tokio runtime the exports will use.
pub fn tracer(
    endpoint: &str,
    service: &str,
) -> Result<(Provider, opentelemetry_sdk::trace::Tracer), OtlpError> {
    use opentelemetry::trace::TracerProvider as _;
    let client = RuntimeClient {
        client: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(OtlpError::Client)?,
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(OtlpError::Exporter)?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service.to_string())
                .build(),
        )
        .build();
    let tracer = provider.tracer("hookline");
    Ok((Provider(provider), tracer))
}

/// reqwest, driven on the process's runtime (see the module docs).
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            })
            .await??;
        let mut response = http::Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        for (given, url) in [
            ("http://c:4318", "http://c:4318/v1/traces"),
            ("http://c:4318/", "http://c:4318/v1/traces"),
            ("https://c/otlp/v1/traces", "https://c/otlp/v1/traces"),
        ] {
            assert_eq!(traces_url(given), url);
        }
    }
}
