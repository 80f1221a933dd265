//! The names of the per-consumer metrics, all labelled `consumer`.
//!
//! The CRM consumer runner (in crm-consumers) records all of them; dedupe
//! counts its own messages under `PROCESSED` and `DEAD_LETTERED` too, and
//! the Prometheus recorder (`telemetry`) gives `END_TO_END_SECONDS` its own
//! buckets. So the names and help texts live here, once.

/// Events whose effect was committed.
pub const PROCESSED: &str = "hookline_consumer_processed_total";
/// Deliveries skipped because `processed_events` already held the event.
pub const DUPLICATES: &str = "hookline_consumer_duplicates_total";
/// Handler failures (one per failed attempt).
pub const FAILED: &str = "hookline_consumer_failed_total";
/// Messages sent to `CRM_DLQ`.
pub const DEAD_LETTERED: &str = "hookline_consumer_dead_lettered_total";
/// Events of types the consumer does not want, acknowledged unread.
pub const SKIPPED: &str = "hookline_consumer_skipped_total";
/// Batches that could not commit (database down, conflicts, time-outs).
pub const BATCH_ERRORS: &str = "hookline_consumer_batch_errors_total";
/// Time from receiving a batch to settling it.
pub const BATCH_SECONDS: &str = "hookline_consumer_batch_seconds";

/// Time from the edge minting the event's id to this consumer committing
/// its effect: the pipeline's edge→CRM latency.
pub const END_TO_END_SECONDS: &str = "hookline_event_end_to_end_seconds";

/// Registers help texts (harmless to call more than once). Dedupe calls it
/// too: it counts its messages under the same consumer metrics.
pub fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(PROCESSED, "CRM events whose effect a consumer committed");
    describe_counter!(
        DUPLICATES,
        "CRM event deliveries skipped because the consumer had already applied them"
    );
    describe_counter!(FAILED, "CRM consumer handler failures (one per attempt)");
    describe_counter!(DEAD_LETTERED, "CRM events a consumer sent to CRM_DLQ");
    describe_counter!(SKIPPED, "CRM events of types a consumer does not want");
    describe_counter!(
        BATCH_ERRORS,
        "CRM consumer batches that could not commit and were retried"
    );
    describe_histogram!(
        BATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time a CRM consumer took to apply and settle one batch"
    );
    describe_histogram!(
        END_TO_END_SECONDS,
        metrics::Unit::Seconds,
        "Time from the edge accepting an event to a CRM consumer committing its effect"
    );
}
