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
pub mod wire;

pub use config::Config;
pub use event::{Event, EventData, EventId, EventType};
pub use names::Names;
pub use other_event::OtherEvent;
pub use shutdown::Shutdown;
#[cfg(feature = "testing")]
pub mod testing;
