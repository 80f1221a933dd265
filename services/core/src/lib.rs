//! What every hookline service shares.
//!
//! The services are separate crates so each can run alone (`hookline edge`,
//! `hookline dedupe`, …) or all together (`hookline all`). Everything they must
//! agree on — the event envelope, subject and stream names, signatures,
//! configuration, how streams and databases are set up — lives here, so two
//! services can never disagree about the wire format.

pub mod config;
pub mod consume;
pub mod consumer_metrics;
pub mod content;
pub mod db;
pub mod dlq;
pub mod dlq_admin;
pub mod event;
pub mod form_fields;
pub mod handoff;
pub mod health_sync;
pub mod hop;
pub mod http;
pub mod lag;
pub mod mint;
pub mod names;
pub mod nats;
pub mod ops;
pub mod optimocms;
pub mod other_event;
pub mod otlp;
pub mod publish;
pub mod schemas;
pub mod shutdown;
pub mod signing;
pub mod startup;
pub mod telemetry;
pub mod traceparent;
pub mod web_url;
pub mod webhook_id;
pub mod wire;

pub use config::Config;
pub use event::{Event, EventData, EventId, EventType};
pub use names::Names;
pub use other_event::OtherEvent;
pub use shutdown::Shutdown;
pub use webhook_id::WebhookId;
#[cfg(feature = "testing")]
pub mod testing;

/// An error and its causes on one line (`outer: cause: root`), for logs and
/// answers that must say why without losing the chain; a cause whose text
/// the outer one already repeats is not repeated.
pub fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}
