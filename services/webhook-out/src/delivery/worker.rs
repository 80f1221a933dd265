//! The loop behind one durable consumer: the shared consume loop
//! ([`hookline_core::consume`]) fetches as many messages as there are free
//! delivery slots and delivers each concurrently; each attempt's outcome
//! decides (purely, [`retry::decision`]) whether the message is acked,
//! nak'ed with the next delay, or dead-lettered.
//!
//! Fetching only as many messages as there are free slots means nothing sits
//! in a local buffer while its ack-wait runs down, and the endpoint never sees
//! more than `max_in_flight` requests from this instance.

use super::dead_letter::{Failure, dead_letter};
use super::{Ctx, request, retry, send};
use crate::store::{AttemptRow, Webhook, WebhookId, webhooks};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use chrono::{DateTime, Utc};
use hookline_core::consume::{self, Decision, Pull};
use hookline_core::dlq_admin::redrive::rc_redrive_target;
use hookline_core::hop::Hop;
use hookline_core::names::RC_EVENTS;
use hookline_core::nats::{self, Existing, NatsError};
use hookline_core::traceparent;
use hookline_core::{Event, Shutdown};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{OnceCell, watch};
use tracing::Instrument;

/// How long one attempt to declare a webhook's durable waits for JetStream
/// before the attempt is logged and made again (a worker never gives up).
const DECLARE_PATIENCE: Duration = Duration::from_secs(30);

/// How long one pull request waits for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// How long a message of a disabled webhook waits before it is offered
/// again (it is kept for when the webhook is enabled).
const PAUSED_RETRY: Duration = Duration::from_secs(30);

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

/// What one delivery task shares with the others of its worker.
struct Worker {
    ctx: Arc<Ctx>,
    source: Source,
    webhook: watch::Receiver<Arc<Webhook>>,
    /// Set by the first 410 Gone, before the webhook is disabled in the
    /// database: from then on this worker delivers nothing more, even before
    /// the supervisor has seen the change and stopped it.
    gone: AtomicBool,
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
    let slots = ctx.max_in_flight.max(1);
    let pull = Pull {
        name: source.consumer.clone(),
        batch_size: 1,
        batches_in_flight: slots,
        capacity: slots,
        expires: PULL_EXPIRES,
        grace: ctx.grace,
    };
    // Declared once, then kept: a durable deleted under a running worker
    // (a finished replay, a deleted webhook) is the supervisor's to stop,
    // never this worker's to re-create.
    let durable = OnceCell::new();
    let config = consumer_config(&ctx, &source);
    let open = || declare(&ctx, &config, &durable);
    let worker = Arc::new(Worker {
        ctx: ctx.clone(),
        source,
        webhook,
        gone: AtomicBool::new(false),
    });
    let handle = move |messages: Vec<Message>| {
        let worker = worker.clone();
        async move {
            for msg in messages {
                process(&worker, msg).await;
            }
        }
    };
    consume::run(pull, stop, open, handle).await;
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

/// The worker's durable: declared on first use (comparing first; an
/// existing durable the server will not update in place, e.g. created by an
/// instance with other settings, is used as it is rather than stop
/// delivering), the same one after.
async fn declare(
    ctx: &Ctx,
    config: &pull::Config,
    durable: &OnceCell<PullConsumer>,
) -> Result<PullConsumer, NatsError> {
    let stream = ctx.nats.names.stream(RC_EVENTS);
    let declared = durable
        .get_or_try_init(|| {
            nats::ensure_consumer(
                &ctx.nats.js,
                &stream,
                config,
                Existing::Use,
                DECLARE_PATIENCE,
            )
        })
        .await?;
    Ok(declared.clone())
}

/// Settles one message of a webhook.
async fn settle(msg: &Message, kind: AckKind, webhook_id: &WebhookId) {
    consume::settle(msg, kind, webhook_id.as_str()).await;
}

/// What a worker does with one message before any attempt.
enum Route {
    /// Not for this webhook (another type, outside a replay's window, a
    /// redrive for another webhook): acknowledged unseen.
    Skip,
    /// The webhook is disabled or gone: kept for later.
    Paused,
    /// Not an event: dead-lettered.
    Unreadable(String),
    /// Delivered.
    Deliver(Box<Event>),
}

/// Where one message goes (no effects).
fn route(worker: &Worker, webhook: &Webhook, msg: &Message, seq: u64) -> Route {
    let names = &worker.ctx.nats.names;
    let replay = &worker.source.replay;
    // A redriven dead letter is for the one webhook that gave up on it: the
    // others (and replays) pass it by.
    let wanted = match rc_redrive_target(names, &msg.subject) {
        Some(target) => webhook.id == *target && replay.is_none(),
        None => {
            let kind = request::subject_type(names.unprefixed(&msg.subject));
            let in_window = match replay {
                Some((end, types)) => {
                    seq <= *end && kind.is_some_and(|k| types.iter().any(|t| t == k.as_str()))
                }
                None => true,
            };
            in_window && kind.is_some_and(|k| webhook.wants(k.as_str()))
        }
    };
    if !wanted {
        return Route::Skip;
    }
    if !webhook.active || worker.gone.load(Ordering::SeqCst) {
        return Route::Paused;
    }
    match serde_json::from_slice::<Event>(&msg.payload) {
        Ok(event) => Route::Deliver(Box::new(event)),
        Err(e) => Route::Unreadable(format!("unreadable event: {e}")),
    }
}

/// Delivers one message and settles it.
async fn process(worker: &Worker, msg: Message) {
    let webhook = worker.webhook.borrow().clone();
    let (attempt, seq) = match msg.info() {
        Ok(info) => (info.delivered, info.stream_sequence),
        Err(e) => {
            tracing::warn!(webhook = %webhook.id, error = %e, "message without JetStream info");
            return;
        }
    };
    let event = match route(worker, &webhook, &msg, seq) {
        Route::Skip => return settle(&msg, AckKind::Ack, &webhook.id).await,
        Route::Paused => {
            // Disabled while this was in flight: leave it for when it is enabled.
            let later = AckKind::Nak(Some(PAUSED_RETRY));
            return settle(&msg, later, &webhook.id).await;
        }
        Route::Unreadable(error) => {
            tracing::error!(webhook = %webhook.id, seq, error = %error, "unreadable event in RC_EVENTS; dead-lettering");
            let failure = Failure {
                event_id: None,
                seq,
                attempts: attempt,
                status: None,
                error: &error,
            };
            dead_letter(&worker.ctx, &webhook.id, failure, &msg).await;
            return;
        }
        Route::Deliver(event) => event,
    };
    let now = Utc::now();
    let outcome = attempt_delivery(&worker.ctx, &webhook, &event, &msg, now).await;
    let retries = retry::retries(&worker.ctx.schedule, retry::jitter_factor());
    let decision = retry::decision(&outcome, attempt, &retries);
    let exhausted = decision == Decision::DeadLetter;
    record(
        &worker.ctx,
        &webhook,
        &event,
        attempt,
        &outcome,
        exhausted,
        now,
    )
    .await;
    if outcome.gone() {
        disable_gone(worker, &webhook).await;
    }
    let event_id = event.id.as_str();
    match decision {
        Decision::Ack => {
            tracing::debug!(webhook = %webhook.id, event_id = %event_id, attempt, "delivered");
            settle(&msg, AckKind::Ack, &webhook.id).await;
        }
        Decision::Nak(delay) => {
            if !outcome.gone() {
                tracing::info!(webhook = %webhook.id, event_id = %event_id, attempt, ?delay, error = ?outcome.error, "delivery failed; will retry");
            }
            settle(&msg, AckKind::Nak(Some(delay)), &webhook.id).await;
        }
        Decision::DeadLetter => {
            let err = outcome.error.as_deref().unwrap_or("failed");
            tracing::warn!(webhook = %webhook.id, event_id = %event_id, attempt, error = %err, "retries exhausted; dead-lettering");
            let failure = Failure {
                event_id: Some(event_id),
                seq,
                attempts: attempt,
                status: outcome.status,
                error: err,
            };
            dead_letter(&worker.ctx, &webhook.id, failure, &msg).await;
        }
    }
}

/// Signs the event afresh and sends it once.
async fn attempt_delivery(
    ctx: &Ctx,
    webhook: &Webhook,
    event: &Event,
    msg: &Message,
    now: DateTime<Utc>,
) -> send::Outcome {
    let mut signed = match request::for_event(webhook, event, ctx.site_id.as_deref(), now) {
        Ok(signed) => signed,
        Err(e) => {
            return send::Outcome {
                error: Some(format!("cannot sign: {e}")),
                ..Default::default()
            };
        }
    };
    let hop = Hop::from_nats(
        "webhook-out",
        "deliver",
        msg.headers.as_ref(),
        event.id.as_str(),
    );
    signed
        .headers
        .push((traceparent::HEADER, hop.traceparent()));
    let gauge = metrics::gauge!("hookline_webhook_in_flight", "webhook" => webhook.id.to_string());
    gauge.increment(1.0);
    let (http, policy) = ctx.route(webhook);
    let outcome = send::send(http, &webhook.url, &signed, policy)
        .instrument(hop.span().clone())
        .await;
    gauge.decrement(1.0);
    hop.outcome(if outcome.success() {
        "delivered"
    } else {
        "failed"
    });
    outcome
}

/// Counts the attempt and queues its row for the delivery log.
async fn record(
    ctx: &Ctx,
    webhook: &Webhook,
    event: &Event,
    attempt: i64,
    outcome: &send::Outcome,
    exhausted: bool,
    at: DateTime<Utc>,
) {
    record_metrics(&webhook.id, outcome, exhausted);
    ctx.writer
        .record(AttemptRow {
            id: 0,
            webhook_id: webhook.id.clone(),
            event_id: event.id.as_str().to_string(),
            event: event.event_type().as_str().to_string(),
            attempt: attempt.clamp(0, i32::MAX as i64) as i32,
            status_code: outcome.status.map(i32::from),
            success: outcome.success(),
            duration_ms: outcome.duration.as_millis().min(i32::MAX as u128) as i32,
            error: outcome.error.clone(),
            exhausted,
            attempted_at: at,
        })
        .await;
}

/// The endpoint answered `410 Gone`: this worker stops delivering at once,
/// and the webhook is disabled (announced as an operational event).
async fn disable_gone(worker: &Worker, webhook: &Webhook) {
    tracing::warn!(webhook = %webhook.id, "endpoint answered 410 Gone; disabling the webhook");
    worker.gone.store(true, Ordering::SeqCst);
    let ctx = &worker.ctx;
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
}

fn record_metrics(webhook_id: &WebhookId, outcome: &send::Outcome, exhausted: bool) {
    let label = webhook_id.to_string();
    let result = if outcome.success() {
        "success"
    } else {
        "failure"
    };
    metrics::counter!("hookline_webhook_deliveries_total", "webhook" => label.clone(), "outcome" => result)
        .increment(1);
    metrics::histogram!("hookline_webhook_delivery_seconds", "webhook" => label.clone())
        .record(outcome.duration.as_secs_f64());
    if !outcome.success() {
        if exhausted {
            metrics::counter!("hookline_webhook_exhausted_total", "webhook" => label).increment(1);
        } else if !outcome.gone() {
            metrics::counter!("hookline_webhook_retries_total", "webhook" => label).increment(1);
        }
    }
}
