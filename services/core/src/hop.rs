//! One hop's work on one event, as a `tracing` span that carries the event
//! id and continues the event's W3C trace.
//!
//! Every stage makes one [`Hop`] per event it handles (edge publish, dedupe
//! verdict, webhook-out delivery attempt, crm-ingest publish, each CRM
//! consumer's processing) from the `traceparent` the event arrived with, and
//! sends [`Hop::traceparent`] on with whatever it forwards. Log lines inside
//! the span carry `event_id`; with `telemetry.otlp_endpoint` set the span is
//! exported, parented on the previous hop's span, so one trace id covers the
//! edge through the CRM consumers.
//!
//! Without span export the propagated header is what [`traceparent`] always
//! produced: a child of the incoming header (same trace, new span id).

use crate::traceparent;
use async_nats::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` name of every hop span (the exported span is named
/// `"{service} {operation}"`).
pub const SPAN_NAME: &str = "hop";

/// The span of one hop and the `traceparent` it continues.
#[derive(Debug)]
pub struct Hop {
    span: Span,
    parent: Option<String>,
}

impl Hop {
    /// Starts the hop `operation` of `service` on `event_id`, continuing
    /// `parent` (a `traceparent` value; a missing or invalid one starts a
    /// new trace). The span has no `tracing` parent: its parent is the
    /// previous hop, wherever that ran.
    pub fn start(service: &str, operation: &str, parent: Option<&str>, event_id: &str) -> Self {
        let span = tracing::info_span!(
            parent: None,
            "hop",
            otel.name = %format_args!("{service} {operation}"),
            service,
            operation,
            event_id,
            outcome = tracing::field::Empty,
        );
        let parent = parent.and_then(traceparent::parse).map(str::to_string);
        if let Some(remote) = parent.as_deref().and_then(remote_context) {
            // Fails only when no span exporter is installed: nothing to join.
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
        Self { span, parent }
    }

    /// [`Hop::start`] from the headers of a NATS message.
    pub fn from_nats(
        service: &str,
        operation: &str,
        headers: Option<&HeaderMap>,
        event_id: &str,
    ) -> Self {
        Self::start(
            service,
            operation,
            traceparent::of(headers).as_deref(),
            event_id,
        )
    }

    /// The span, to enter or to instrument a future with.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records how the hop ended (`unique`, `delivered`, `failed`, …).
    pub fn outcome(&self, outcome: &str) {
        self.span.record("outcome", outcome);
    }

    /// The `traceparent` to send on: this hop's exported span when spans
    /// are exported, else a new child of the incoming header.
    pub fn traceparent(&self) -> String {
        let cx = self.span.context();
        let own = cx.span().span_context().clone();
        if own.is_valid() {
            format!(
                "00-{:032x}-{:016x}-{:02x}",
                own.trace_id(),
                own.span_id(),
                own.trace_flags()
            )
        } else {
            traceparent::child_of(self.parent.as_deref())
        }
    }

    /// NATS headers carrying [`Hop::traceparent`].
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(traceparent::HEADER, self.traceparent().as_str());
        h
    }
}

/// The remote span a valid `traceparent` names.
fn remote_context(value: &str) -> Option<SpanContext> {
    let mut parts = value.split('-').skip(1);
    let trace = TraceId::from_hex(parts.next()?).ok()?;
    let span = SpanId::from_hex(parts.next()?).ok()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    Some(SpanContext::new(
        trace,
        span,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn without_export_a_hop_sends_a_child_of_its_parent() {
        let hop = Hop::start("test", "op", Some(VALID), "evt_1");
        let sent = hop.traceparent();
        assert_eq!(traceparent::trace_id(&sent), traceparent::trace_id(VALID));
        assert_ne!(sent, VALID);
        let root = Hop::start("test", "op", Some("junk"), "evt_1").traceparent();
        assert!(traceparent::parse(&root).is_some());
    }

    #[test]
    fn with_export_a_hop_sends_its_own_span_in_the_parents_trace() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::prelude::*;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let hop = Hop::start("test", "op", Some(VALID), "evt_1");
            let sent = hop.traceparent();
            assert_eq!(sent, hop.traceparent(), "one span, one header");
            assert_eq!(traceparent::trace_id(&sent), traceparent::trace_id(VALID));
            let cx = hop.span().context();
            let own = cx.span().span_context().clone();
            assert_eq!(
                sent,
                format!("00-{:032x}-{:016x}-01", own.trace_id(), own.span_id())
            );
            assert_ne!(format!("{:016x}", own.span_id()), "00f067aa0ba902b7");
        });
    }

    #[test]
    fn a_traceparent_names_its_remote_span() {
        let cx = remote_context(VALID).expect("valid");
        assert_eq!(
            format!("{:032x}", cx.trace_id()),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(format!("{:016x}", cx.span_id()), "00f067aa0ba902b7");
        assert!(cx.is_sampled() && cx.is_remote());
    }
}
