//! The loop behind one durable consumer: fetch as many messages as there are
//! free delivery slots, deliver each concurrently, then ack, nak with the
//! next delay, or dead-letter.
//!
//! Fetching only as many messages as there are free slots means nothing sits
//! in a local buffer while its ack-wait runs down, and the endpoint never sees
//! more than `max_in_flight` requests from this instance.

use super::dead_letter::{Failure, dead_letter};
use super::{Ctx, request, retry, send};
use crate::store::{AttemptRow, Webhook, webhooks};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use futures::StreamExt;
use hookline_core::dlq_admin::redrive::rc_redrive_target;
use hookline_core::names::RC_EVENTS;
use hookline_core::nats::{self, Existing};
use hookline_core::traceparent;
use hookline_core::{Event, Shutdown};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long one attempt to declare a webhook's durable waits for JetStream
/// before the attempt is logged and made again (a worker never gives up).
const DECLARE_PATIENCE: Duration = Duration::from_secs(30);

/// How long one pull request waits for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// Where a worker reads from.
#[derive(Clone, Debug)]
pub struct Source {
    /// Durable consumer name.
    pub consumer: String,
    /// Where a new consumer starts.
    pub start: DeliverPolicy,
    /// For a replay: the last stream sequence of its window and the types
    /// it replays. Messages past the window are acknowledged unseen.
    pub replay: Option<(u64, Vec<String>)>,
}

/// Runs one consumer until `stop` fires, then lets in-flight deliveries
/// finish within the grace period (what does not finish stays unacked and is
/// redelivered).
pub async fn run(
    ctx: Arc<Ctx>,
    source: Source,
    webhook: watch::Receiver<Arc<Webhook>>,
    stop: Shutdown,
) {
    let Some(consumer) = open_consumer(&ctx, &source, &stop).await else {
        return;
    };
    let slots = Arc::new(Semaphore::new(ctx.max_in_flight.max(1)));
    let mut tasks = JoinSet::new();
    let source = Arc::new(source);
    // Set by the first 410 Gone, before the webhook is disabled in the
    // database: from then on this worker delivers nothing more, even before
    // the supervisor has seen the change and stopped it.
    let gone = Arc::new(AtomicBool::new(false));
    while !stop.is_triggered() {
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.wait() => break,
        };
        let mut permits = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        let mut messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %source.consumer, error = %e, "pull failed, retrying");
                pause(&stop, Duration::from_secs(1)).await;
                continue;
            }
        };
        while !permits.is_empty() {
            let next = tokio::select! {
                m = messages.next() => m,
                _ = stop.wait() => break,
            };
            match next {
                Some(Ok(msg)) => {
                    let Some(permit) = permits.pop() else { break };
                    let (ctx, source, webhook) = (ctx.clone(), source.clone(), webhook.clone());
                    let gone = gone.clone();
                    tasks.spawn(async move {
                        process(&ctx, &source, &webhook, &gone, msg).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::debug!(consumer = %source.consumer, error = %e, "pull ended");
                    break;
                }
                None => break,
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(ctx.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(consumer = %source.consumer, "deliveries still running after the grace period; left for redelivery");
        tasks.abort_all();
    }
}

async fn pause(stop: &Shutdown, d: Duration) {
    tokio::select! {
        _ = stop.wait() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

/// The consumer's configuration. Filter `rc.events.>` (nats-server 2.9 has
/// no multi-filter); types the webhook does not want are acked unseen.
pub fn consumer_config(ctx: &Ctx, source: &Source) -> pull::Config {
    pull::Config {
        durable_name: Some(source.consumer.clone()),
        description: Some("hookline webhook-out deliveries".into()),
        deliver_policy: source.start,
        ack_policy: AckPolicy::Explicit,
        ack_wait: ctx.ack_wait(),
        max_deliver: ctx.max_deliver(),
        filter_subject: ctx.nats.names.subject("rc.events.>"),
        max_ack_pending: super::MAX_ACK_PENDING,
        ..Default::default()
    }
}

async fn open_consumer(
    ctx: &Ctx,
    source: &Source,
    stop: &Shutdown,
) -> Option<async_nats::jetstream::consumer::Consumer<pull::Config>> {
    let config = consumer_config(ctx, source);
    let stream = ctx.nats.names.stream(RC_EVENTS);
    let mut delay = Duration::from_millis(200);
    loop {
        // Compare first; an existing durable the server will not update in
        // place (e.g. created by an instance with other settings) is used as
        // it is rather than stop delivering.
        let declared = nats::ensure_consumer(
            &ctx.nats.js,
            &stream,
            &config,
            Existing::Use,
            DECLARE_PATIENCE,
        );
        let res = tokio::select! {
            res = declared => res,
            _ = stop.wait() => return None,
        };
        match res {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(consumer = %source.consumer, error = %e, "cannot open consumer, retrying");
                pause(stop, delay).await;
                if stop.is_triggered() {
                    return None;
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn settle(msg: &Message, kind: AckKind, webhook_id: &str) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(webhook = %webhook_id, error = %e, "ack failed; the message will be redelivered");
    }
}

/// Delivers one message and settles it.
async fn process(
    ctx: &Ctx,
    source: &Source,
    webhook: &watch::Receiver<Arc<Webhook>>,
    stopped: &AtomicBool,
    msg: Message,
) {
    let webhook = webhook.borrow().clone();
    let (attempt, seq) = match msg.info() {
        Ok(info) => (info.delivered, info.stream_sequence),
        Err(e) => {
            tracing::warn!(webhook = %webhook.id, error = %e, "message without JetStream info");
            return;
        }
    };
    // A redriven dead letter is for the one webhook that gave up on it: the
    // others (and replays) pass it by.
    let wanted = match rc_redrive_target(&ctx.nats.names, &msg.subject) {
        Some(target) => target == webhook.id && source.replay.is_none(),
        None => {
            let kind = request::subject_type(ctx.nats.names.unprefixed(&msg.subject));
            let in_window = match &source.replay {
                Some((end, types)) => {
                    seq <= *end && kind.is_some_and(|k| types.iter().any(|t| t == k.as_str()))
                }
                None => true,
            };
            in_window && kind.is_some_and(|k| webhook.wants(k.as_str()))
        }
    };
    if !wanted {
        return settle(&msg, AckKind::Ack, &webhook.id).await;
    }
    if !webhook.active || stopped.load(Ordering::SeqCst) {
        // Disabled while this was in flight: leave it for when it is enabled.
        return settle(
            &msg,
            AckKind::Nak(Some(Duration::from_secs(30))),
            &webhook.id,
        )
        .await;
    }
    let event: Event = match serde_json::from_slice(&msg.payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(webhook = %webhook.id, seq, error = %e, "unreadable event in RC_EVENTS; dead-lettering");
            let error = format!("unreadable event: {e}");
            let failure = Failure {
                event_id: None,
                seq,
                attempts: attempt,
                status: None,
                error: &error,
            };
            if dead_letter(ctx, &webhook.id, failure, &msg).await {
                settle(&msg, AckKind::Ack, &webhook.id).await;
            }
            return;
        }
    };
    let event_id = event.id.as_str();
    let now = Utc::now();
    let outcome = match request::for_event(&webhook, &event, ctx.site_id.as_deref(), now) {
        Ok(mut signed) => {
            let trace = traceparent::of(msg.headers.as_ref());
            signed
                .headers
                .push((traceparent::HEADER, traceparent::child_of(trace.as_deref())));
            let gauge =
                metrics::gauge!("hookline_webhook_in_flight", "webhook" => webhook.id.clone());
            gauge.increment(1.0);
            let (http, policy) = ctx.route(&webhook);
            let o = send::send(http, &webhook.url, &signed, policy).await;
            gauge.decrement(1.0);
            o
        }
        Err(e) => send::Outcome {
            error: Some(format!("cannot sign: {e}")),
            ..Default::default()
        },
    };
    let success = outcome.success();
    let gone = outcome.gone();
    let exhausted = !success && !gone && (retry::is_last(&ctx.schedule, attempt) || outcome.abort);
    record_metrics(&webhook.id, &outcome, exhausted);
    ctx.writer
        .record(AttemptRow {
            id: 0,
            webhook_id: webhook.id.clone(),
            event_id: event_id.to_string(),
            event: event.event_type().as_str().to_string(),
            attempt: attempt.clamp(0, i32::MAX as i64) as i32,
            status_code: outcome.status.map(i32::from),
            success,
            duration_ms: outcome.duration.as_millis().min(i32::MAX as u128) as i32,
            error: outcome.error.clone(),
            exhausted,
            attempted_at: now,
        })
        .await;
    if success {
        tracing::debug!(webhook = %webhook.id, event_id = %event_id, attempt, "delivered");
        settle(&msg, AckKind::Ack, &webhook.id).await;
    } else if gone {
        tracing::warn!(webhook = %webhook.id, event_id = %event_id, "endpoint answered 410 Gone; disabling the webhook");
        stopped.store(true, Ordering::SeqCst);
        let reason = "endpoint answered 410 Gone";
        match webhooks::disable(&ctx.pool, &webhook.id, reason).await {
            Ok(true) => {
                if let Some(ops) = &ctx.ops {
                    let data = serde_json::json!({"webhook_id": webhook.id, "url": webhook.url, "reason": reason});
                    ops.emit(crate::ops_events::ENDPOINT_DISABLED, data);
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(webhook = %webhook.id, error = %e, "could not disable webhook")
            }
        }
        ctx.poke.notify_one();
        // Kept (not dead-lettered) for when an operator re-enables it.
        settle(
            &msg,
            AckKind::Nak(Some(Duration::from_secs(60))),
            &webhook.id,
        )
        .await;
    } else if exhausted {
        let err = outcome.error.as_deref().unwrap_or("failed");
        tracing::warn!(webhook = %webhook.id, event_id = %event_id, attempt, error = %err, "retries exhausted; dead-lettering");
        let failure = Failure {
            event_id: Some(event_id),
            seq,
            attempts: attempt,
            status: outcome.status,
            error: err,
        };
        if dead_letter(ctx, &webhook.id, failure, &msg).await {
            settle(&msg, AckKind::Ack, &webhook.id).await;
        } else {
            settle(
                &msg,
                AckKind::Nak(Some(Duration::from_secs(5))),
                &webhook.id,
            )
            .await;
        }
    } else {
        let delay = retry::next_delay(&ctx.schedule, attempt, outcome.retry_after);
        tracing::info!(webhook = %webhook.id, event_id = %event_id, attempt, ?delay, error = ?outcome.error, "delivery failed; will retry");
        settle(&msg, AckKind::Nak(Some(delay)), &webhook.id).await;
    }
}

fn record_metrics(webhook_id: &str, outcome: &send::Outcome, exhausted: bool) {
    let label = webhook_id.to_string();
    let result = if outcome.success() {
        "success"
    } else {
        "failure"
    };
    metrics::counter!("hookline_webhook_deliveries_total", "webhook" => label.clone(), "outcome" => result)
        .increment(1);
    metrics::histogram!("hookline_webhook_delivery_duration_seconds", "webhook" => label.clone())
        .record(outcome.duration.as_secs_f64());
    if !outcome.success() {
        if exhausted {
            metrics::counter!("hookline_webhook_exhausted_total", "webhook" => label).increment(1);
        } else if !outcome.gone() {
            metrics::counter!("hookline_webhook_retries_total", "webhook" => label).increment(1);
        }
    }
}
