//! The runner's metrics, all labelled `consumer`. Their names and help
//! texts are core's ([`hookline_core::consumer_metrics`]): dedupe counts
//! under some of them too.

pub use hookline_core::consumer_metrics::*;
use std::time::Duration;

/// Records how long ago the edge minted `event_id`, for an event whose
/// effect just committed (ids that are not UUIDv7 carry no time).
pub(super) fn end_to_end(consumer: &'static str, event_id: &str) {
    if let Some(minted) = hookline_core::mint::minted_at(event_id) {
        let age = (chrono::Utc::now() - minted).to_std().unwrap_or_default();
        metrics::histogram!(END_TO_END_SECONDS, "consumer" => consumer).record(age.as_secs_f64());
    }
}

pub(super) fn count(name: &'static str, consumer: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(name, "consumer" => consumer).increment(n as u64);
    }
}

pub(super) fn batch_took(consumer: &'static str, took: Duration) {
    metrics::histogram!(BATCH_SECONDS, "consumer" => consumer).record(took.as_secs_f64());
}
