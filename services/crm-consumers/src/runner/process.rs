//! One batch, from received messages to settled messages.
//!
//! Parse; dead-letter what does not parse; ack what the consumer does not
//! want; apply the rest in one transaction (see [`super::batch`]); then, and
//! only after `COMMIT`, ack the applied and the duplicates, nak the failed
//! with back-off, and dead-letter those out of deliveries.

use super::batch::{self, BatchError, Item, Status};
use super::consumer::Consumer;
use super::metrics as m;
use super::settle::{self, Delivery};
use super::{Shared, backoff_cap};
use hookline_core::consume::{Decision, Outcome, decide};
use hookline_core::dlq_admin::redrive::crm_redrive_target;
use hookline_core::event::Event;
use hookline_core::hop::Hop;
use hookline_core::other_event::{self, OtherEvent};
use hookline_core::shutdown::Shutdown;
use std::time::{Duration, Instant};

/// The service name on consumers' hop spans (the operation is the
/// consumer's name).
const SERVICE: &str = "crm-consumers";

/// Quick retries of a batch that lost a deadlock before it is nak'ed.
const CONFLICT_RETRIES: u32 = 3;

/// Processes one batch to the end: every message is acked, nak'ed or
/// dead-lettered when this returns — except on shutdown while Postgres is
/// down, when the batch is released for redelivery.
pub(super) async fn process(
    shared: &Shared,
    consumer: &dyn Consumer,
    messages: Vec<Delivery>,
    shutdown: &Shutdown,
) {
    let name = consumer.name();
    let started = Instant::now();
    let mut wanted: Vec<(Delivery, Event)> = Vec::with_capacity(messages.len());
    let mut others: Vec<(Delivery, OtherEvent)> = Vec::new();
    let mut skipped = Vec::new();
    let mut hops = Vec::new();
    let wants_others = !consumer.other_event_types().is_empty();
    for delivery in messages {
        // A redriven dead letter is for the one consumer that gave up on it.
        let subject = &delivery.msg.subject;
        if crm_redrive_target(&shared.settings.names, subject).is_some_and(|target| target != name)
            || (!wants_others && shared.settings.names.is_crm_other_subject(subject))
        {
            skipped.push(delivery);
            continue;
        }
        match decode(&delivery.msg.payload) {
            Err(err) => {
                let error = format!("not a hookline event envelope: {err}");
                settle::dead_letter(shared, name, &delivery, None, &error).await;
            }
            Ok(Decoded::Event(event)) if consumer.event_types().contains(&event.event_type()) => {
                // Open until the batch is settled: the event's hop span.
                hops.push(hop(name, &delivery, event.id.as_str()));
                wanted.push((delivery, event))
            }
            Ok(Decoded::Other(other))
                if other_event::wants(consumer.other_event_types(), &other.kind) =>
            {
                hops.push(hop(name, &delivery, other.id.as_str()));
                others.push((delivery, other))
            }
            Ok(_) => skipped.push(delivery),
        }
    }
    if !skipped.is_empty() {
        settle::ack_all(name, &skipped.iter().collect::<Vec<_>>()).await;
        m::count(m::SKIPPED, name, skipped.len());
    }
    if wanted.is_empty() && others.is_empty() {
        return;
    }
    finish(shared, consumer, wanted, shutdown).await;
    finish(shared, consumer, others, shutdown).await;
    m::batch_took(name, started.elapsed());
}

/// One event's hop span in this consumer, parented on its `traceparent`.
fn hop(consumer: &'static str, delivery: &Delivery, event_id: &str) -> Hop {
    Hop::from_nats(SERVICE, consumer, delivery.msg.headers.as_ref(), event_id)
}

/// What a message on `CRM_EVENTS` holds.
enum Decoded {
    Event(Event),
    Other(OtherEvent),
}

/// A typed event envelope, else an other-type event (a redriven one
/// arrives on a redrive subject, so the payload decides, not the subject).
fn decode(payload: &[u8]) -> Result<Decoded, serde_json::Error> {
    match serde_json::from_slice::<Event>(payload) {
        Ok(event) => Ok(Decoded::Event(event)),
        Err(err) => serde_json::from_slice::<OtherEvent>(payload)
            .map(Decoded::Other)
            .map_err(|_| err),
    }
}

/// Applies the wanted items in one transaction and settles each: ack the
/// applied and the duplicates, nak the failed with back-off, dead-letter
/// those out of deliveries.
async fn finish<T: Item>(
    shared: &Shared,
    consumer: &dyn Consumer,
    wanted: Vec<(Delivery, T)>,
    shutdown: &Shutdown,
) {
    if wanted.is_empty() {
        return;
    }
    let name = consumer.name();
    let deliveries: Vec<&Delivery> = wanted.iter().map(|(d, _)| d).collect();
    let events: Vec<&T> = wanted.iter().map(|(_, e)| e).collect();
    let Some(statuses) = apply_with_retries(shared, consumer, &deliveries, &events, shutdown).await
    else {
        return;
    };

    let mut done = Vec::new();
    let mut duplicates = 0;
    for ((delivery, event), status) in wanted.iter().zip(statuses) {
        let id = event.id();
        match status {
            Status::Done => {
                m::end_to_end(name, id);
                done.push(delivery)
            }
            Status::Duplicate => {
                tracing::debug!(consumer = name, event_id = id, "already applied; skipping");
                duplicates += 1;
                done.push(delivery);
            }
            Status::Failed(err) => {
                let outcome = if err.is_permanent() {
                    Outcome::Poison
                } else {
                    Outcome::FAILED
                };
                let retries = shared.settings.retries(shared.settings.max_deliver);
                match decide(outcome, delivery.delivered, &retries) {
                    Decision::Ack => done.push(delivery),
                    Decision::Nak(delay) => {
                        tracing::warn!(consumer = name, event_id = id, delivered = delivery.delivered, retry_in = ?delay, error = %err, "handler failed; will retry");
                        settle::nak(name, delivery, delay).await;
                    }
                    Decision::DeadLetter => {
                        settle::dead_letter(shared, name, delivery, Some(id), &err.to_string())
                            .await;
                    }
                }
            }
        }
    }
    settle::ack_all(name, &done).await;
    m::count(m::PROCESSED, name, done.len() - duplicates);
    m::count(m::DUPLICATES, name, duplicates);
}

/// Applies the batch, holding it while Postgres is unavailable and retrying
/// lost deadlocks. Returns `None` when the batch was given back to JetStream
/// (nak'ed) instead.
async fn apply_with_retries<T: Item>(
    shared: &Shared,
    consumer: &dyn Consumer,
    deliveries: &[&Delivery],
    events: &[&T],
    shutdown: &Shutdown,
) -> Option<Vec<Status>> {
    let name = consumer.name();
    let settings = &shared.settings;
    let mut conflicts = 0;
    let mut waits = 0usize;
    loop {
        let attempt = tokio::time::timeout(
            settings.ack_wait,
            batch::apply(&shared.pool, consumer, events),
        )
        .await;
        let err = match attempt {
            Ok(Ok(statuses)) => return Some(statuses),
            Ok(Err(err)) => err,
            Err(_) => {
                m::count(m::BATCH_ERRORS, name, 1);
                tracing::warn!(
                    consumer = name,
                    events = events.len(),
                    "batch took longer than ack_wait; giving it back"
                );
                give_back(shared, name, deliveries).await;
                return None;
            }
        };
        m::count(m::BATCH_ERRORS, name, 1);
        match err {
            BatchError::Unavailable(_) | BatchError::Dependency(_) => {
                // Not the events' fault: keep them (in-progress acks stop
                // JetStream from counting deliveries) and wait for Postgres
                // or the consumer's dependency.
                let delay = settings
                    .backoff
                    .get(waits)
                    .or(settings.backoff.last())
                    .copied()
                    .unwrap_or(Duration::from_secs(1))
                    .min(backoff_cap(settings));
                waits += 1;
                if let BatchError::Dependency(e) = &err {
                    tracing::debug!(consumer = name, events = events.len(), retry_in = ?delay, error = %e, "dependency unavailable; holding the batch");
                } else {
                    tracing::warn!(consumer = name, events = events.len(), retry_in = ?delay, error = %err, "Postgres unavailable; holding the batch");
                }
                settle::in_progress(deliveries).await;
                let woke = tokio::select! {
                    _ = tokio::time::sleep(delay) => true,
                    _ = shutdown.wait() => false,
                };
                if !woke {
                    settle::release_all(name, deliveries).await;
                    return None;
                }
            }
            BatchError::Conflict(e) if conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                tracing::debug!(consumer = name, error = %e, "batch lost a deadlock; retrying");
            }
            other => {
                tracing::warn!(consumer = name, events = events.len(), error = %other, "batch failed; nak'ing it with back-off");
                give_back(shared, name, deliveries).await;
                return None;
            }
        }
    }
}

/// Naks a batch that could not commit. A message on its last delivery the
/// server will make is dead-lettered instead, so nothing is ever dropped.
async fn give_back(shared: &Shared, name: &'static str, deliveries: &[&Delivery]) {
    let retries = shared
        .settings
        .retries(shared.settings.server_max_deliver());
    for d in deliveries {
        match decide(Outcome::FAILED, d.delivered, &retries) {
            Decision::Nak(delay) => settle::nak(name, d, delay).await,
            Decision::Ack => settle::ack_all(name, &[d]).await,
            Decision::DeadLetter => {
                let id = decode(&d.msg.payload).ok().map(|decoded| match decoded {
                    Decoded::Event(e) => e.id.to_string(),
                    Decoded::Other(o) => o.id.to_string(),
                });
                let why = "the batch kept failing to commit";
                settle::dead_letter(shared, name, d, id.as_deref(), why).await;
            }
        }
    }
}
