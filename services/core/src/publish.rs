//! Publishing to JetStream with `Nats-Msg-Id` and retries.
//!
//! A publish is done only when its PubAck arrives: that is what lets an HTTP
//! 2xx mean "durably in a stream". A publish that fails is retried with the
//! same `Nats-Msg-Id`, so the stream's duplicate window drops the copy if the
//! first try did land. async-nats does not retry "no responders" (a stream
//! leader election, a restarting server), so we do, for a bounded time.

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage as Publish;
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use futures::future::join_all;
use std::time::{Duration, Instant};

/// How long a publish keeps retrying before its caller is told to give up
/// (and answer 503, or nak and let JetStream redeliver).
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(5);

/// One message to publish.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Full subject (already prefixed).
    pub subject: String,
    /// `Nats-Msg-Id`: the event id.
    pub msg_id: String,
    /// Extra headers, if any.
    pub headers: Option<HeaderMap>,
    /// The body.
    pub payload: Bytes,
}

impl Outgoing {
    /// A message with `Nats-Msg-Id` = `msg_id`.
    pub fn new(subject: String, msg_id: impl Into<String>, payload: Bytes) -> Self {
        Self {
            subject,
            msg_id: msg_id.into(),
            headers: None,
            payload,
        }
    }

    fn build(&self) -> Publish {
        let mut p = Publish::build()
            .payload(self.payload.clone())
            .message_id(self.msg_id.as_str());
        if let Some(h) = &self.headers {
            for (name, values) in h.iter() {
                for v in values {
                    p = p.header(name.clone(), v.clone());
                }
            }
        }
        p
    }
}

fn retryable(kind: PublishErrorKind) -> bool {
    !matches!(
        kind,
        PublishErrorKind::MaxPayloadExceeded
            | PublishErrorKind::WrongLastMessageId
            | PublishErrorKind::WrongLastSequence
    )
}

async fn attempt(js: &jetstream::Context, msg: &Outgoing) -> Result<PublishAck, PublishError> {
    let fut: PublishAckFuture = js.send_publish(msg.subject.clone(), msg.build()).await?;
    fut.await
}

/// Publishes one message and waits for its PubAck, retrying transient
/// failures with the same `Nats-Msg-Id` until [`PUBLISH_DEADLINE`].
pub async fn publish(js: &jetstream::Context, msg: &Outgoing) -> Result<PublishAck, PublishError> {
    publish_until(js, msg, Instant::now() + PUBLISH_DEADLINE).await
}

async fn publish_until(
    js: &jetstream::Context,
    msg: &Outgoing,
    deadline: Instant,
) -> Result<PublishAck, PublishError> {
    let mut delay = Duration::from_millis(25);
    loop {
        // Bound each try by what is left of the deadline, so a server that
        // swallows the publish cannot hold the caller for the context's
        // whole ack time-out.
        let left = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(left, attempt(js, msg)).await {
            Ok(result) => result,
            Err(_) => Err(PublishError::new(PublishErrorKind::TimedOut)),
        };
        match result {
            Ok(ack) => return Ok(ack),
            Err(err) if retryable(err.kind()) && Instant::now() + delay < deadline => {
                tracing::debug!(subject = %msg.subject, msg_id = %msg.msg_id, error = %err, "publish failed, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Publishes a batch with every PubAck in flight at once (one round trip for
/// the batch, not one per message), then retries the failures one by one.
/// Results are in input order.
pub async fn publish_batch(
    js: &jetstream::Context,
    msgs: &[Outgoing],
) -> Vec<Result<PublishAck, PublishError>> {
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    let mut pending = Vec::with_capacity(msgs.len());
    for msg in msgs {
        pending.push(js.send_publish(msg.subject.clone(), msg.build()).await);
    }
    let first = join_all(pending.into_iter().map(|sent| async move {
        match sent {
            Ok(fut) => fut.await,
            Err(e) => Err(e),
        }
    }))
    .await;
    let mut out = Vec::with_capacity(msgs.len());
    for (msg, result) in msgs.iter().zip(first) {
        out.push(match result {
            Err(err) if retryable(err.kind()) => publish_until(js, msg, deadline).await,
            other => other,
        });
    }
    out
}
