//! Reading a stream from a point in time without a durable consumer: the
//! health-sync count, event traces and replay scans all walk `RC_EVENTS` (or
//! another stream) this way.
//!
//! The consumer is ephemeral, ordered and headers-only, so no payload
//! crosses the wire and nothing is left behind on the server once the
//! caller drops it (the server removes it after its inactivity threshold).

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;

/// The headers of the messages of `stream` on `filter`, from the first one
/// stored at or after `from_nanos` (Unix nanoseconds), in stream order.
pub async fn headers_from(
    stream: &Stream,
    filter: String,
    from_nanos: i128,
) -> Result<pull::Ordered, async_nats::Error> {
    let start_time = async_nats::datetime::from_nanos(from_nanos)?;
    headers(stream, filter, DeliverPolicy::ByStartTime { start_time }).await
}

/// The headers of the messages of `stream` on `filter`, from where
/// `deliver_policy` says (a time, a sequence), in stream order.
pub async fn headers(
    stream: &Stream,
    filter: String,
    deliver_policy: DeliverPolicy,
) -> Result<pull::Ordered, async_nats::Error> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter,
            headers_only: true,
            deliver_policy,
            ..Default::default()
        })
        .await?;
    Ok(consumer.messages().await?)
}
